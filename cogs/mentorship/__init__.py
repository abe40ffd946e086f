"""Mentorship (issue 13): mentor and mentee sign-ups, optimal matching, the pair's lifecycle, a code review
exchange and career conversations. ``matching`` is the pure optimiser (no Discord, no database)."""
