"""Post-processing: reads a run's output folder (never solver objects), so `batteryfx plot OUT`
works later and on another machine."""
