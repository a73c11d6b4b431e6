"""What a user reads from a run: report.html (page, charts, assets, sample grids) and the metric loggers
(monitor, loggers). It reads run outputs and never imports the run machinery."""
