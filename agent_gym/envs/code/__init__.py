"""Environments where the agent runs code in the sandbox: `shell`, `python_code` (HumanEval and data
analysis), `math_python` (math with a Python tool); `base.SandboxToolEnv` is their common base."""
