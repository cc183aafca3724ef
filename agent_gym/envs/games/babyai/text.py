"""Text for BabyAI: what the agent sees in its 7×7 view, its commands, and what each command did.

High-level commands ("go to the red ball", "pick up the blue key", "open the green door", "go through
the grey door") walk to an object in view along a path through cells the agent sees, then act; each
primitive action they take is one game step. The view is read from minigrid's own observation (`obs["image"]`, the egocentric encoded grid
with occlusion applied), so describing it costs microseconds and never reveals hidden cells:

    You see a red ball 3 steps forward and 2 steps right, a closed grey door 4 steps forward.
    In front of you: empty floor. Walls: 5 steps forward, 2 steps left.
    You are carrying nothing.
"""

from __future__ import annotations

from collections import deque
from typing import Any

import numpy as np
from minigrid.core.actions import Actions
from minigrid.core.constants import COLOR_NAMES, IDX_TO_COLOR, IDX_TO_OBJECT

COMMANDS: dict[str, Actions] = {
    "turn left": Actions.left,
    "turn right": Actions.right,
    "move forward": Actions.forward,
    "pick up": Actions.pickup,
    "drop": Actions.drop,
    "toggle": Actions.toggle,
}
"""The agent's commands, one per minigrid action (`done` is left out: missions end by themselves)."""

COMMAND_HELP: dict[str, str] = {
    "turn left": "turn left: face the cell on your left",
    "turn right": "turn right: face the cell on your right",
    "move forward": "move forward: step into the cell in front of you (floor or an open door)",
    "pick up": "pick up: take the object in front of you (you can carry one object)",
    "drop": "drop: put what you carry on the empty cell in front of you",
    "toggle": "toggle: open or close the door in front of you (a locked door needs a key of its color), or open a box",
}

ALIASES: dict[str, str] = {
    "left": "turn left", "turn_left": "turn left", "rotate left": "turn left",
    "right": "turn right", "turn_right": "turn right", "rotate right": "turn right",
    "forward": "move forward", "go forward": "move forward", "move_forward": "move forward",
    "step forward": "move forward", "walk forward": "move forward", "move ahead": "move forward",
    "pickup": "pick up", "pick_up": "pick up", "pick": "pick up", "take": "pick up", "grab": "pick up",
    "put down": "drop", "place": "drop",
    "open": "toggle", "close": "toggle", "unlock": "toggle", "open door": "toggle", "use": "toggle",
}

_DOOR_STATES = {0: "open", 1: "closed", 2: "locked"}
_SOLID = {"wall", "door", "key", "ball", "box", "lava"}
VIEW = 7
AGENT_X, AGENT_Y = VIEW // 2, VIEW - 1


def parse_command(text: str) -> Actions | None:
    """The minigrid action of a command (case, punctuation, articles and aliases tolerated), or None."""
    words = [w for w in text.lower().replace("_", " ").strip(" .!\"'").split() if w not in ("the", "a", "an")]
    cleaned = " ".join(words)
    cleaned = ALIASES.get(cleaned, cleaned)
    if cleaned not in COMMANDS:  # "pick up the red ball", "toggle door": the object is what is in front
        for prefix in ("pick up", "pickup", "drop", "toggle", "open", "unlock", "close"):
            if cleaned.startswith(prefix + " "):
                cleaned = ALIASES.get(prefix, prefix)
                break
    return COMMANDS.get(cleaned)


def cell_name(obj: int, color: int, state: int) -> str:
    """'a red ball', 'a locked blue door' … for one encoded cell."""
    kind = IDX_TO_OBJECT[obj]
    colour = IDX_TO_COLOR[color]
    if kind == "door":
        door_state = _DOOR_STATES.get(state, "closed")
        return f"{'an' if door_state == 'open' else 'a'} {door_state} {colour} door"
    if kind in ("goal", "lava"):
        return f"the {kind}" if kind == "goal" else "lava"
    return f"a {colour} {kind}"


def _steps(n: int, word: str) -> str:
    return f"{n} step{'s' if n != 1 else ''} {word}"


def where(dx: int, dy: int) -> str:
    """'3 steps forward and 2 steps right' for a cell dy ahead and dx to the right."""
    parts = []
    if dy:
        parts.append(_steps(dy, "forward"))
    if dx:
        parts.append(_steps(abs(dx), "right" if dx > 0 else "left"))
    return " and ".join(parts) or "here"


def describe(image: np.ndarray) -> str:
    """The text of one egocentric view (`obs["image"]`, shape 7×7×3, agent at the bottom middle)."""
    seen: list[tuple[int, str]] = []
    for y in range(VIEW):
        for x in range(VIEW):
            if (x, y) == (AGENT_X, AGENT_Y):
                continue
            kind = IDX_TO_OBJECT[int(image[x, y, 0])]
            if kind in ("unseen", "empty", "wall", "floor", "agent"):
                continue
            dx, dy = x - AGENT_X, AGENT_Y - y
            name = cell_name(int(image[x, y, 0]), int(image[x, y, 1]), int(image[x, y, 2]))
            seen.append((abs(dx) + dy, f"{name} {where(dx, dy)}"))
    seen.sort()
    lines = [("You see " + ", ".join(text for _, text in seen) + ".") if seen else "You see no objects."]
    lines.append(f"In front of you: {front_name(image)}. {walls(image)}")
    lines.append(f"You are carrying {carried_name(image)}.")
    return "\n".join(lines)


def front_name(image: np.ndarray) -> str:
    """What is in the cell right in front of the agent."""
    obj, color, state = (int(v) for v in image[AGENT_X, AGENT_Y - 1])
    kind = IDX_TO_OBJECT[obj]
    if kind in ("empty", "floor"):
        return "empty floor"
    if kind == "wall":
        return "a wall"
    if kind == "unseen":
        return "something you cannot see"
    return cell_name(obj, color, state)


def carried_name(image: np.ndarray) -> str:
    """What the agent carries ('nothing' if empty-handed)."""
    obj, color, state = (int(v) for v in image[AGENT_X, AGENT_Y])
    return "nothing" if IDX_TO_OBJECT[obj] in ("empty", "unseen", "agent") else cell_name(obj, color, state)


def walls(image: np.ndarray) -> str:
    """Distances to the nearest wall ahead, left and right, when visible."""
    found = []
    for label, cells in (
        ("forward", [(AGENT_X, AGENT_Y - d) for d in range(1, VIEW)]),
        ("left", [(AGENT_X - d, AGENT_Y) for d in range(1, AGENT_X + 1)]),
        ("right", [(AGENT_X + d, AGENT_Y) for d in range(1, AGENT_X + 1)]),
    ):
        for distance, (x, y) in enumerate(cells, start=1):
            kind = IDX_TO_OBJECT[int(image[x, y, 0])]
            if kind == "unseen":
                break
            if kind == "wall":
                found.append(_steps(distance, label))
                break
    return f"Walls: {', '.join(found)}." if found else "No wall in sight."


def feedback(action: Actions, before: dict[str, Any], after: dict[str, Any]) -> str:
    """One sentence on what the action did, from the agent's state before and after it."""
    front_before = before["front"]
    if action is Actions.left:
        return "You turned left."
    if action is Actions.right:
        return "You turned right."
    if action is Actions.forward:
        if after["pos"] != before["pos"]:
            return "You moved forward."
        return f"You could not move forward: {front_before} is in the way."
    if action is Actions.pickup:
        if after["carrying"] != before["carrying"]:
            return f"You picked up {after['carrying']}."
        if before["carrying"] != "nothing":
            return f"You cannot pick up anything: you already carry {before['carrying']} (drop it first)."
        return f"There is nothing to pick up in front of you ({front_before})."
    if action is Actions.drop:
        if after["carrying"] != before["carrying"]:
            return f"You dropped {before['carrying']}."
        if before["carrying"] == "nothing":
            return "You are not carrying anything to drop."
        return f"You cannot drop {before['carrying']} here: {front_before} is in front of you."
    if action is Actions.toggle:
        if after["front"] != front_before:
            if front_before.endswith(" door"):
                verb = {"an open": "closed", "a closed": "opened", "a locked": "unlocked and opened"}
                article_state = " ".join(front_before.split()[:2])
                return f"You {verb.get(article_state, 'toggled')} the {front_before.split()[-2]} door."
            return f"You opened {front_before}; now in front of you: {after['front']}."
        if "locked" in front_before:
            colour = front_before.split()[2]
            return f"The door is locked: you need to carry a {colour} key to open it."
        return f"Nothing happened: {front_before} cannot be toggled."
    return "Nothing happened."


def state_of(env: Any, image: np.ndarray) -> dict[str, Any]:
    """The facts `feedback` compares: position, carried object and the cell in front."""
    return {"pos": tuple(int(v) for v in env.agent_pos), "carrying": carried_name(image), "front": front_name(image)}


# ---- high-level commands ---------------------------------------------------------------------------

MACROS: dict[str, str] = {
    "go to": "go to OBJECT: walk up to a visible object and face it, e.g. go to the red ball",
    "pick up": "pick up OBJECT: go to a visible key, ball or box and pick it up",
    "open": "open DOOR: go to a visible closed door and open it (toggle), e.g. open the blue door",
    "go through": "go through DOOR: go to a visible door, open it if needed, and walk through",
}
"""Commands that take several primitive actions; they only target objects in view."""

_MACRO_PREFIXES = (
    ("go through", "go through"), ("walk through", "go through"), ("enter", "go through"),
    ("go to", "go to"), ("goto", "go to"), ("walk to", "go to"), ("move to", "go to"), ("approach", "go to"),
    ("pick up", "pick up"), ("pickup", "pick up"), ("take", "pick up"), ("grab", "pick up"),
    ("toggle and go through", "go through"), ("open", "open"), ("toggle", "open"), ("unlock", "open"),
)
_KINDS = ("ball", "box", "key", "door")
_DIRECTIONS = ((0, -1), (1, 0), (0, 1), (-1, 0))  # up (the agent's forward in the view), right, down, left


def parse_macro(text: str) -> tuple[str, str | None, str | None] | None:
    """(macro, colour, kind) of a high-level command such as 'go to the red ball', or None."""
    words = [w for w in text.lower().replace("_", " ").strip(" .!\"'").split() if w not in ("the", "a", "an")]
    cleaned = " ".join(words)
    for prefix, macro in _MACRO_PREFIXES:
        if cleaned.startswith(prefix + " "):
            rest = cleaned[len(prefix) + 1:].split()
            colour = next((w for w in rest if w in COLOR_NAMES), None)
            kind = next((w.rstrip("s") for w in rest if w.rstrip("s") in _KINDS), None)
            if colour is None and kind is None:
                return None
            if macro in ("open", "go through") and kind is None:
                kind = "door"
            return macro, colour, kind
    return None


def _passable(image: np.ndarray, x: int, y: int) -> bool:
    kind = IDX_TO_OBJECT[int(image[x, y, 0])]
    return kind in ("empty", "floor", "goal") or (kind == "door" and int(image[x, y, 2]) == 0)


def path_to(image: np.ndarray, target: tuple[int, int]) -> list[Actions] | None:
    """Primitive actions that bring the agent to face `target` (view coordinates) through seen free cells."""
    start = (AGENT_X, AGENT_Y, 0)
    previous: dict[tuple[int, int, int], tuple[tuple[int, int, int], Actions] | None] = {start: None}
    queue = deque([start])
    while queue:
        state = queue.popleft()
        x, y, facing = state
        dx, dy = _DIRECTIONS[facing]
        if (x + dx, y + dy) == target:
            actions: list[Actions] = []
            while previous[state] is not None:
                state, action = previous[state]
                actions.append(action)
            return actions[::-1]
        moves = [((x, y, (facing - 1) % 4), Actions.left), ((x, y, (facing + 1) % 4), Actions.right)]
        if 0 <= x + dx < VIEW and 0 <= y + dy < VIEW and _passable(image, x + dx, y + dy):
            moves.append(((x + dx, y + dy, facing), Actions.forward))
        for nxt, action in moves:
            if nxt not in previous:
                previous[nxt] = (state, action)
                queue.append(nxt)
    return None


def find_target(image: np.ndarray, colour: str | None, kind: str | None) -> tuple[str, list[Actions]] | str:
    """The nearest visible matching object and the path to it, or a sentence saying why there is none."""
    wanted = " ".join(w for w in (colour, kind) if w) or "object"
    best: tuple[int, str, list[Actions]] | None = None
    seen_any = False
    for y in range(VIEW):
        for x in range(VIEW):
            obj, col, state = (int(v) for v in image[x, y])
            if (x, y) == (AGENT_X, AGENT_Y) or IDX_TO_OBJECT[obj] not in _KINDS:
                continue
            if (kind and IDX_TO_OBJECT[obj] != kind) or (colour and IDX_TO_COLOR[col] != colour):
                continue
            seen_any = True
            path = path_to(image, (x, y))
            if path is not None and (best is None or len(path) < best[0]):
                best = (len(path), cell_name(obj, col, state), path)
    if best is not None:
        return best[1], best[2]
    if seen_any:
        return f"You see a {wanted} but no free path to it in view; turn or move to find a way."
    return f"You do not see a {wanted}. Turn or move to look around."


def macro_commands(image: np.ndarray) -> list[str]:
    """The high-level commands that make sense in this view (for "help")."""
    found: list[str] = []
    for y in range(VIEW):
        for x in range(VIEW):
            obj, col, state = (int(v) for v in image[x, y])
            kind = IDX_TO_OBJECT[obj]
            if (x, y) == (AGENT_X, AGENT_Y) or kind not in _KINDS:
                continue
            name = f"the {IDX_TO_COLOR[col]} {kind}"
            found.append(f"go to {name}")
            if kind == "door":
                found.append(f"go through {name}" if state == 0 else f"open {name}")
            else:
                found.append(f"pick up {name}")
    return sorted(set(found))
