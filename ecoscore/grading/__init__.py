"""Grading: from a run record and a versioned scale to an A-to-E grade, its uncertainty and
the indicators shown beside it (CO2e, embodied share, baseline, volume). Reads records,
never runs anything."""
