import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from agent_gym import ScriptedPolicy, Task, ToolEnv, TrajectoryStore, exact_match, tool
from agent_gym.envs.calculator import CalculatorEnv, CalculatorExpert, make_tasks
from agent_gym.synth import no_errors, sft_features, synthesize, text_row
from agent_gym.types import Message, ToolCall, Trajectory, assistant, user

ROOT = Path(__file__).resolve().parents[2]


@tool
def execute_shell(command: str) -> str:
    """Run a shell command.

    Args:
        command: The command line.
    """
    return "./test.py\n./main.py"


def test_seed_000_text_format_byte_for_byte():
    trajectory = Trajectory(
        id="t", task_id="0", env="shell", policy="p",
        messages=(
            user("查找当前目录下所有Python文件"),
            assistant(reasoning="简单的文件查找操作", tool_calls=(ToolCall(name="execute_shell", arguments={"command": "find . -name '*.py' -type f"}, id="c0"),)),
            Message(role="tool", content="./test.py\n./main.py", name="execute_shell", tool_call_id="c0"),
            assistant("找到两个文件：test.py 和 main.py"),
        ),
    )
    tools = [{"type": "function", "function": {"name": "execute_shell", "description": "Run a shell command.", "parameters": {"type": "object", "properties": {"command": {"type": "string"}}, "required": ["command"]}}}]
    row = text_row(trajectory, tools, think_type="quick")
    golden = (
        '{"messages": ['
        '{"role": "system", "content": "[{\\"type\\":\\"function\\",\\"function\\":{\\"name\\":\\"execute_shell\\",\\"description\\":\\"Run a shell command.\\",\\"parameters\\":{\\"type\\":\\"object\\",\\"properties\\":{\\"command\\":{\\"type\\":\\"string\\"}},\\"required\\":[\\"command\\"]}}}]"}, '
        '{"role": "user", "content": "查找当前目录下所有Python文件"}, '
        '{"role": "assistant", "content": "<think type=\\"quick\\">\\n简单的文件查找操作\\n</think>\\n\\n<tool_call>\\n{\\"name\\": \\"execute_shell\\", \\"arguments\\": {\\"command\\": \\"find . -name \'*.py\' -type f\\"}}\\n</tool_call>"}, '
        '{"role": "user", "content": "<tool_response name=\\"execute_shell\\">./test.py\\n./main.py</tool_response>"}, '
        '{"role": "assistant", "content": "找到两个文件：test.py 和 main.py"}]}'
    )
    assert json.dumps(row, ensure_ascii=False) == golden


def second_env() -> tuple[ToolEnv, ScriptedPolicy, list[Task]]:
    env = ToolEnv(tools=[execute_shell], reward=exact_match, name="shell_demo", system_prompt="Answer with the file count.")
    teacher = ScriptedPolicy(
        [Message(role="assistant", reasoning="List the Python files.", tool_calls=(ToolCall(name="execute_shell", arguments={"command": "find . -name '*.py'"}, id="c0"),)),
         "2"], name="shell-expert")
    return env, teacher, [Task(id=f"s{i}", prompt=f"How many Python files are in project {name}?", answer="2")
                   for i, name in enumerate(["alpha", "beta", "gamma", "delta"])]


def test_two_environments_both_formats_load_and_pass_trl_preparation(tmp_path):
    calc = synthesize(CalculatorEnv(), CalculatorExpert(), make_tasks(6), out=tmp_path / "calc", progress=False)
    env, teacher, tasks = second_env()
    shell = synthesize(env, teacher, tasks, out=tmp_path / "shell", progress=False)
    assert len(calc.kept) == 6 and len(shell.kept) == 4
    for result in (calc, shell):
        for kind in ("openai", "text", "hf", "parquet", "grpo", "card", "card_html", "manifest"):
            assert result.files[kind].exists(), kind
        openai_row = json.loads(result.files["openai"].read_text().splitlines()[0])
        call = openai_row["messages"][-3]["tool_calls"][0]
        assert isinstance(call["function"]["arguments"], str) and openai_row["tools"][0]["type"] == "function"
        text = json.loads(result.files["text"].read_text().splitlines()[0])["messages"]
        assert "<tool_call>" in text[-3]["content"] and text[-2]["content"].startswith("<tool_response name=")
    datasets = pytest.importorskip("datasets")
    files = [str(calc.files["hf"]), str(shell.files["hf"])]
    merged = datasets.load_dataset("json", data_files=files, features=sft_features(), split="train")
    assert len(merged) == 10
    shell_row = merged[-1]["messages"]
    assert shell_row[2]["tool_calls"][0]["function"]["arguments"] == {"command": "find . -name '*.py'"}  # no null padding
    text_set = datasets.load_dataset("json", data_files=[str(calc.files["text"]), str(shell.files["text"])], split="train")
    assert len(text_set) == 10
    assert "calc" in (calc.out_dir / "README.md").read_text() or "calculator" in (calc.out_dir / "README.md").read_text()
    prepared = trl_prepare(merged, tmp_path)
    if prepared is not None:
        trainer_dataset, tokenizer = prepared
        assert len(trainer_dataset) == 10
        for row, source in zip(trainer_dataset, merged, strict=True):
            trained = tokenizer.decode([t for t, label in zip(row["input_ids"], row["labels"], strict=True) if label != -100])
            assert "<tool_call>" in trained and source["messages"][-1]["content"] in trained  # assistant turns learned
            assert source["messages"][1]["content"] not in trained  # the user prompt is masked out


def trl_prepare(dataset, tmp_path):
    """Run TRL's SFT data preparation (tokenization with assistant masks) with the embedded model's tokenizer."""
    trl = pytest.importorskip("trl")
    try:
        from agent_gym.local.files import is_prepared, local_model_dir
    except ImportError:
        return None
    folder = local_model_dir()
    if not is_prepared(folder):
        pytest.skip("the embedded model is not prepared (make setup prepares it)")
    config = trl.SFTConfig(output_dir=str(tmp_path / "sft"), assistant_only_loss=True, use_cpu=True, report_to="none",
                           max_steps=1, per_device_train_batch_size=2, bf16=False)
    trainer = trl.SFTTrainer(model=str(folder), args=config, train_dataset=dataset)
    return trainer.train_dataset, trainer.processing_class


SCRIPT = textwrap.dedent("""
    import asyncio, sys
    from agent_gym.envs.calculator import CalculatorEnv, CalculatorExpert, make_tasks
    from agent_gym.synth import synthesize

    class Slow(CalculatorExpert):
        async def act(self, messages, tools, *, seed=None):
            await asyncio.sleep(0.02)
            return await super().act(messages, tools, seed=seed)

    synthesize(CalculatorEnv(), Slow(), make_tasks(40), out=sys.argv[1], samples_per_task=2, max_concurrency=4, progress=False)
    print("FINISHED")
""")


def test_sigkill_mid_run_then_resume_gives_every_example_exactly_once(tmp_path):
    out = tmp_path / "job"
    script = tmp_path / "job.py"
    script.write_text(SCRIPT)
    ledger = TrajectoryStore(out / "trajectories.jsonl")
    kills = 0
    for _ in range(4):  # kill each run once it has added a few records: always mid-run
        start = len(ledger.read())
        proc = subprocess.Popen([sys.executable, str(script), str(out)], stdout=subprocess.PIPE, cwd=ROOT)
        deadline = time.monotonic() + 60
        while len(ledger.read()) < start + 7 and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            kills += 1
        proc.wait()
    before = len(ledger.read())
    finished = subprocess.run([sys.executable, str(script), str(out)], capture_output=True, text=True, cwd=ROOT, check=True)
    assert "FINISHED" in finished.stdout
    records = TrajectoryStore(out / "trajectories.jsonl").read()
    assert kills == 4 and 28 <= before < 80
    assert len(records) == 80 and len({r.job_key for r in records}) == 80  # nothing lost, nothing twice
    rows = [json.loads(line) for line in (out / "sft.jsonl").read_text().splitlines()]
    prompts = [r["messages"][1]["content"] for r in rows]
    assert len(rows) == 40 and len(set(prompts)) == 40  # default filters: best of 1 per task, deduped
    assert json.loads((out / "manifest.json").read_text())["seen"] == 80


def test_failed_episodes_stay_in_the_ledger_but_not_in_the_data(tmp_path):
    env, _, tasks = second_env()
    result = synthesize(env, ScriptedPolicy(["no tool call"]), tasks[:2], out=tmp_path, filters=[no_errors()], progress=False)
    assert len(result.seen) == 2 and len(result.kept) == 2  # wrong answers but no errors
    broken = synthesize(env, ScriptedPolicy([]), tasks[:2], out=tmp_path / "b", filters=[no_errors()], progress=False)
    assert len(broken.seen) == 2 and broken.kept == [] and all(t.error for t in broken.seen)
    assert (tmp_path / "b" / "sft.jsonl").read_text() == ""
