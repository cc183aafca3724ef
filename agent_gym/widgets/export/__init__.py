"""Static export: `page` writes views as one offline HTML file; `report` writes a whole run
(`run_report`, `agent-gym report`)."""
