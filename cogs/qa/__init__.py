"""Q&A knowledge base (issue 12). This file is a placeholder from the search branch; the core branch owns it."""
