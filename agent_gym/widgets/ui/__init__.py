"""The anywidget classes shown in Jupyter: `TrajectoryViewer`, `RunTable`/`RunBrowser`, `CompareView`,
`GroupInspector`, and `live` (following a file that grows, such as a store or a metrics log)."""
