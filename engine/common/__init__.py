"""What every layer of the engine shares: structured errors, parsing one value, exact amounts and the one
half-up rounding, limits on input, temporary files. Imports nothing else of the engine."""
