"""Text games with one `act(command)` tool: `babyai/`, `textcraft/`, `textworld`, `scienceworld`;
`text_game.TextGameEnv` is their common base (commands, help, invalid-action feedback, experts)."""
