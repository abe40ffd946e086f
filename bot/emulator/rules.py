"""Discord's limits and error shapes, as documented in the API reference.

Each check raises :class:`DiscordError`, which the server turns into the JSON body Discord sends
(``{"code": N, "message": ..., "errors": {...}}``) so discord.py raises the same ``HTTPException``/``Forbidden``/
``NotFound`` with the same ``code`` a real bot would see.
"""

from __future__ import annotations

import re
from typing import Any

# JSON error codes (https://discord.com/developers/docs/topics/opcodes-and-status-codes#json).
UNKNOWN_CHANNEL = 10003
UNKNOWN_GUILD = 10004
UNKNOWN_MEMBER = 10007
UNKNOWN_MESSAGE = 10008
UNKNOWN_ROLE = 10011
UNKNOWN_WEBHOOK = 10015
UNKNOWN_USER = 10013
UNKNOWN_INTERACTION = 10062
UNKNOWN_APPLICATION_COMMAND = 10063
UNKNOWN_GUILD_SCHEDULED_EVENT = 10070
MISSING_ACCESS = 50001
CANNOT_SEND_EMPTY_MESSAGE = 50006
CANNOT_SEND_TO_USER = 50007
MISSING_PERMISSIONS = 50013
INVALID_FORM_BODY = 50035
ALREADY_ACKNOWLEDGED = 40060
TAG_REQUIRED = 40067
REQUEST_ENTITY_TOO_LARGE = 40005
INVALID_CHANNEL_TYPE = 50024  # "Cannot execute action on this channel type"
MAX_THREAD_PARTICIPANTS = 30033  # "Maximum number of thread participants has been reached (1000)"
THREAD_ARCHIVED = 50083  # "Tried to perform an operation on an archived thread, such as editing a message or
# adding a user to the thread"; discord.js shows it as "Thread is archived"
THREAD_LOCKED = 160005  # "Thread is locked"
MAX_ACTIVE_THREADS = 160006  # "Maximum number of active threads reached"

# "A file upload size limit applies to *all* files in a request (rather than each individual file) ... it is
# 25 MiB by default" (API reference, Uploading Files); interactions announce it as ``attachment_size_limit``.
ATTACHMENT_SIZE_LIMIT = 25 * 1024 * 1024

LIMITS = {
    "content": 2000,
    "embeds": 10,
    "embed_title": 256,
    "embed_description": 4096,
    "embed_fields": 25,
    "field_name": 256,
    "field_value": 1024,
    "footer": 2048,
    "author": 256,
    "embed_total": 6000,
    "action_rows": 5,
    "row_buttons": 5,
    "custom_id": 100,
    "button_label": 80,
    "select_options": 25,
    "modal_title": 45,
    "modal_rows": 5,
    "choices": 25,
    "command_options": 25,
    "commands": 100,
    "command_name": 32,
    "command_description": 100,
    # "15 global USER commands", "15 global MESSAGE commands" and "the same amount of guild-specific commands per
    # guild" (Application Commands, "Registering a Command"); discord.py 2.7 itself still stops at 5.
    "context_menu_commands": 15,
}

# Lowercase letters of any script, digits, '-' and '_' (Discord's CHAT_INPUT name regex, simplified).
_COMMAND_NAME = re.compile(r"^[-_\w]{1,32}$")


class DiscordError(Exception):
    """A Discord API error: HTTP status, JSON code, message and optional per-field ``errors`` tree."""

    def __init__(self, status: int, code: int, message: str, errors: dict[str, Any] | None = None) -> None:
        super().__init__(f"{status} {code} {message}")
        self.status = status
        self.code = code
        self.message = message
        self.errors = errors

    def body(self) -> dict[str, Any]:
        data: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.errors:
            data["errors"] = self.errors
        return data


def check_upload(files: dict[str, bytes]) -> None:
    if sum(len(data) for data in files.values()) > ATTACHMENT_SIZE_LIMIT:
        raise DiscordError(413, REQUEST_ENTITY_TOO_LARGE, "Request entity too large")


def not_found(code: int, what: str) -> DiscordError:
    return DiscordError(404, code, f"Unknown {what}")


def missing_permissions() -> DiscordError:
    return DiscordError(403, MISSING_PERMISSIONS, "Missing Permissions")


def missing_access() -> DiscordError:
    """Discord's answer for a channel (or private thread) the caller cannot see."""
    return DiscordError(403, MISSING_ACCESS, "Missing Access")


def thread_archived() -> DiscordError:
    return DiscordError(400, THREAD_ARCHIVED, "Thread is archived")


class FormErrors:
    """Collects per-field problems into Discord's nested ``errors`` object; raises one 50035 at the end."""

    def __init__(self) -> None:
        self.errors: dict[str, Any] = {}

    def add(self, path: list[str | int], code: str, message: str) -> None:
        node = self.errors
        for key in path:
            node = node.setdefault(str(key), {})
        node.setdefault("_errors", []).append({"code": code, "message": message})

    def max_length(self, path: list[str | int], value: str | None, limit: int) -> None:
        if value is not None and len(value) > limit:
            self.add(path, "BASE_TYPE_MAX_LENGTH", f"Must be {limit} or fewer in length.")

    def length_between(self, path: list[str | int], value: str | None, low: int, high: int) -> None:
        if value is None or not (low <= len(value) <= high):
            self.add(path, "BASE_TYPE_BAD_LENGTH", f"Must be between {low} and {high} in length.")

    def raise_if_any(self) -> None:
        if self.errors:
            raise DiscordError(400, INVALID_FORM_BODY, "Invalid Form Body", self.errors)


# --------------------------------------------------------------------------- messages
def check_message(body: dict[str, Any], *, creating: bool, prefix: list[str | int] | None = None) -> None:
    """Content, embeds and components of a message create/edit (or an interaction response's ``data``)."""
    pre = prefix or []
    errs = FormErrors()
    content = body.get("content")
    if content is not None:
        errs.max_length([*pre, "content"], str(content), LIMITS["content"])
    embeds = body.get("embeds") or []
    if len(embeds) > LIMITS["embeds"]:
        errs.add([*pre, "embeds"], "BASE_TYPE_MAX_LENGTH", f"Must be {LIMITS['embeds']} or fewer in length.")
    total = 0
    for i, embed in enumerate(embeds):
        total += _check_embed(errs, [*pre, "embeds", i], embed)
    if total > LIMITS["embed_total"]:
        errs.add([*pre, "embeds"], "MAX_EMBED_SIZE_EXCEEDED", "Embed size exceeds maximum size of 6000")
    _check_components(errs, [*pre, "components"], body.get("components") or [], flags=int(body.get("flags") or 0))
    errs.raise_if_any()
    has_body = any(body.get(k) for k in ("content", "embeds", "components", "attachments", "sticker_ids", "poll"))
    if creating and not has_body:
        raise DiscordError(400, CANNOT_SEND_EMPTY_MESSAGE, "Cannot send an empty message")


def _check_embed(errs: FormErrors, path: list[str | int], embed: dict[str, Any]) -> int:
    total = 0
    title, desc = embed.get("title"), embed.get("description")
    errs.max_length([*path, "title"], title, LIMITS["embed_title"])
    errs.max_length([*path, "description"], desc, LIMITS["embed_description"])
    total += len(title or "") + len(desc or "")
    fields = embed.get("fields") or []
    if len(fields) > LIMITS["embed_fields"]:
        errs.add(
            [*path, "fields"], "BASE_TYPE_MAX_LENGTH", f"Must be {LIMITS['embed_fields']} or fewer in length."
        )
    for j, fld in enumerate(fields):
        name, value = fld.get("name"), fld.get("value")
        errs.max_length([*path, "fields", j, "name"], name, LIMITS["field_name"])
        errs.max_length([*path, "fields", j, "value"], value, LIMITS["field_value"])
        if not name:
            errs.add([*path, "fields", j, "name"], "BASE_TYPE_REQUIRED", "This field is required")
        if not value:
            errs.add([*path, "fields", j, "value"], "BASE_TYPE_REQUIRED", "This field is required")
        total += len(name or "") + len(value or "")
    footer = (embed.get("footer") or {}).get("text")
    errs.max_length([*path, "footer", "text"], footer, LIMITS["footer"])
    author = (embed.get("author") or {}).get("name")
    errs.max_length([*path, "author", "name"], author, LIMITS["author"])
    return total + len(footer or "") + len(author or "")


def _check_components(errs: FormErrors, path: list[str | int], rows: list[dict[str, Any]], *, flags: int) -> None:
    if flags & (1 << 15):
        return  # Components V2 layouts have other limits; not modelled.
    if len(rows) > LIMITS["action_rows"]:
        errs.add(path, "BASE_TYPE_MAX_LENGTH", f"Must be {LIMITS['action_rows']} or fewer in length.")
    for i, row in enumerate(rows):
        if row.get("type") != 1:
            errs.add([*path, i, "type"], "UNION_TYPE_CHOICES", 'Value of field "type" must be one of (1,).')
            continue
        children = row.get("components") or []
        buttons = [c for c in children if c.get("type") == 2]
        selects = [c for c in children if c.get("type") in (3, 5, 6, 7, 8)]
        if not children or len(children) > LIMITS["row_buttons"] or (selects and len(children) > 1):
            errs.add([*path, i, "components"], "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 5 in length.")
        for j, comp in enumerate(children):
            _check_component(errs, [*path, i, "components", j], comp)
        del buttons


def _check_component(errs: FormErrors, path: list[str | int], comp: dict[str, Any]) -> None:
    ctype = comp.get("type")
    custom_id = comp.get("custom_id")
    errs.max_length([*path, "custom_id"], custom_id, LIMITS["custom_id"])
    if ctype == 2:
        errs.max_length([*path, "label"], comp.get("label"), LIMITS["button_label"])
        is_link = comp.get("style") in (5, 6)
        if not is_link and not custom_id:
            errs.add([*path, "custom_id"], "BASE_TYPE_REQUIRED", "This field is required")
    elif ctype == 3:
        options = comp.get("options") or []
        if not 1 <= len(options) <= LIMITS["select_options"]:
            errs.add([*path, "options"], "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 25 in length.")
        for k, opt in enumerate(options):
            errs.max_length([*path, "options", k, "label"], opt.get("label"), 100)
            errs.max_length([*path, "options", k, "value"], opt.get("value"), 100)
    elif ctype == 4:
        errs.max_length([*path, "label"], comp.get("label"), 45)


def check_modal(data: dict[str, Any]) -> None:
    errs = FormErrors()
    errs.length_between(["data", "title"], data.get("title"), 1, LIMITS["modal_title"])
    errs.max_length(["data", "custom_id"], data.get("custom_id"), LIMITS["custom_id"])
    rows = data.get("components") or []
    if not 1 <= len(rows) <= LIMITS["modal_rows"]:
        errs.add(["data", "components"], "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 5 in length.")
    for i, row in enumerate(rows):
        children = row.get("components") if row.get("type") == 1 else [row.get("component") or {}]
        for j, comp in enumerate(children or []):
            _check_component(errs, ["data", "components", i, "components", j], comp)
    errs.raise_if_any()


def check_autocomplete(data: dict[str, Any]) -> None:
    errs = FormErrors()
    choices = data.get("choices") or []
    if len(choices) > LIMITS["choices"]:
        errs.add(["data", "choices"], "BASE_TYPE_MAX_LENGTH", f"Must be {LIMITS['choices']} or fewer in length.")
    for i, choice in enumerate(choices):
        errs.length_between(["data", "choices", i, "name"], choice.get("name"), 1, 100)
    errs.raise_if_any()


# --------------------------------------------------------------------------- application commands
def check_commands(commands: list[dict[str, Any]]) -> None:
    """A bulk overwrite (PUT /applications/{app}[/guilds/{g}]/commands)."""
    errs = FormErrors()
    if len([c for c in commands if c.get("type", 1) == 1]) > LIMITS["commands"]:
        errs.add([], "BASE_TYPE_MAX_LENGTH", f"Must be {LIMITS['commands']} or fewer in length.")
    for ctype in (2, 3):  # the code Discord answers for too many is not documented; 50035 as for CHAT_INPUT
        if len([c for c in commands if int(c.get("type", 1)) == ctype]) > LIMITS["context_menu_commands"]:
            errs.add([], "BASE_TYPE_MAX_LENGTH", f"Must be {LIMITS['context_menu_commands']} or fewer in length.")
    seen: set[tuple[int, str]] = set()
    for i, cmd in enumerate(commands):
        ctype = int(cmd.get("type", 1))
        name = cmd.get("name") or ""
        if (ctype, name) in seen:
            errs.add(
                [i, "name"],
                "APPLICATION_COMMANDS_DUPLICATE_NAME",
                f"Application command names must be unique: {name}",
            )
        seen.add((ctype, name))
        if ctype == 1:
            _check_name(errs, [i, "name"], name)
            errs.length_between([i, "description"], cmd.get("description"), 1, LIMITS["command_description"])
            _check_options(errs, [i, "options"], cmd.get("options") or [], depth=0)
        else:
            _check_context_menu(errs, i, cmd)
    errs.raise_if_any()


def _check_context_menu(errs: FormErrors, i: int, cmd: dict[str, Any]) -> None:
    """A USER (2) or MESSAGE (3) command: a "1-32 character name"; "USER and MESSAGE commands may be mixed case and
    can include spaces" (Application Command Naming); "The description field is not allowed when creating user
    commands" (and message commands; it reads back as ""); they "don't take any arguments"."""
    name = cmd.get("name") or ""
    errs.length_between([i, "name"], name, 1, LIMITS["command_name"])
    if name and not name.strip():
        errs.add([i, "name"], "APPLICATION_COMMAND_INVALID_NAME", f"Command name is invalid: {name!r}")
    if cmd.get("description"):
        errs.add([i, "description"], "BASE_TYPE_BAD_VALUE", "Context menu commands cannot have a description")
    if cmd.get("options"):
        errs.add([i, "options"], "BASE_TYPE_BAD_VALUE", "Context menu commands cannot have options")


def _check_name(errs: FormErrors, path: list[str | int], name: str) -> None:
    if not _COMMAND_NAME.match(name) or name != name.lower():
        errs.add(path, "APPLICATION_COMMAND_INVALID_NAME", f"Command name is invalid: {name!r}")


def _check_options(errs: FormErrors, path: list[str | int], options: list[dict[str, Any]], *, depth: int) -> None:
    if len(options) > LIMITS["command_options"]:
        errs.add(path, "BASE_TYPE_MAX_LENGTH", f"Must be {LIMITS['command_options']} or fewer in length.")
    seen_optional = False
    names: set[str] = set()
    for i, opt in enumerate(options):
        p = [*path, i]
        otype = opt.get("type")
        name = opt.get("name") or ""
        _check_name(errs, [*p, "name"], name)
        if name in names:
            errs.add([*p, "name"], "APPLICATION_COMMAND_OPTION_NAME_ALREADY_EXISTS", "Option name already exists")
        names.add(name)
        errs.length_between([*p, "description"], opt.get("description"), 1, LIMITS["command_description"])
        if otype in (1, 2):
            if depth >= (1 if otype == 2 else 2):
                errs.add([*p, "type"], "APPLICATION_COMMAND_OPTIONS_TYPE_INVALID", "Sub-command nesting too deep")
            _check_options(errs, [*p, "options"], opt.get("options") or [], depth=depth + 1)
            continue
        if opt.get("required"):
            if seen_optional:
                errs.add(
                    [*p, "required"],
                    "APPLICATION_COMMAND_OPTIONS_REQUIRED_INVALID",
                    "Required options must be placed before non-required options",
                )
        else:
            seen_optional = True
        choices = opt.get("choices") or []
        if len(choices) > LIMITS["choices"]:
            errs.add([*p, "choices"], "BASE_TYPE_MAX_LENGTH", f"Must be {LIMITS['choices']} or fewer in length.")
        if choices and opt.get("autocomplete"):
            errs.add(
                [*p, "autocomplete"], "AUTOCOMPLETE_CHOICES_CONFLICT", "Autocomplete cannot be set with choices"
            )
        for j, choice in enumerate(choices):
            errs.length_between([*p, "choices", j, "name"], choice.get("name"), 1, 100)
            value = choice.get("value")
            if isinstance(value, str):
                errs.max_length([*p, "choices", j, "value"], value, 100)
