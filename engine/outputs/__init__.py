"""What the bureaus take away: the screening of a list, programme pools, budgets and what-if, workbooks and
text summaries."""
