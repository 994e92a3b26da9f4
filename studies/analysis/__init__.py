"""From responses to the paper's numbers: statistics (plain numpy) and the analyses of each
task kind."""
