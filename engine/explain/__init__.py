"""An evaluation in people's words: the check object of one firm, the measure catalogue, the text report."""
