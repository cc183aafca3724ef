"""Pure view models: plain data for the widgets, computed from trajectory records (no anywidget, no
live environments). `trajectory` (one episode), `table` (runs as a frame, queries), `compare`
(two runs aligned), `groups` (GRPO groups and advantages)."""
