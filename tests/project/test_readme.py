"""The README's custom environment runs as shown, with the scripted policy and with OpenAIPolicy."""

import re
from pathlib import Path

from agent_gym import TrajectoryStore
from agent_gym.testing.scripted_server import serve_scripted

README = Path(__file__).resolve().parents[2] / "README.md"


def readme_snippet() -> str:
    text = README.read_text()
    section = text[text.index("## A custom environment"):]
    return re.search(r"```python\n(.*?)```", section, re.DOTALL).group(1)


def run_snippet(code: str, cwd: Path, monkeypatch) -> dict:
    monkeypatch.chdir(cwd)
    namespace: dict = {}
    exec(compile(code, "README.md", "exec"), namespace)  # noqa: S102 - the README is ours
    return namespace


def test_snippet_is_at_most_20_lines():
    assert len(readme_snippet().strip().splitlines()) <= 20


def test_snippet_runs_with_the_scripted_policy_and_resumes(tmp_path, monkeypatch, capsys):
    code = readme_snippet()
    ns = run_snippet(code, tmp_path, monkeypatch)
    assert [t.reward for t in ns["trajectories"]] == [1.0, 1.0]
    assert capsys.readouterr().out.splitlines()[-1] == "1.0 5"
    run_snippet(code, tmp_path, monkeypatch)  # the same job again: nothing new is stored
    assert len(TrajectoryStore(tmp_path / "runs/readme.jsonl").read()) == 2


def test_snippet_runs_with_openai_policy_against_a_server(tmp_path, monkeypatch):
    code = readme_snippet()
    policy_line = next(line for line in code.splitlines() if line.startswith("policy = "))
    with serve_scripted() as server:
        swapped = code.replace(
            policy_line,
            f"from agent_gym import OpenAIPolicy\npolicy = OpenAIPolicy('scripted', base_url={server.base_url!r})",
        )
        ns = run_snippet(swapped, tmp_path, monkeypatch)
    trajectories = ns["trajectories"]
    assert [t.reward for t in trajectories] == [1.0, 1.0] and trajectories[0].policy == "openai"
    assert trajectories[0].messages[2].role == "assistant" and trajectories[0].messages[2].tool_calls[0].name == "add"
