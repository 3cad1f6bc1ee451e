"""Firms and lists into the column table every evaluation takes: a firm's JSON, list workbooks and CSV, data
frames, Arrow and Parquet."""
