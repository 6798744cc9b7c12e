"""Published results shipped as data: MLPerf Tiny's closed-division energy table
(``mlperf_tiny_energy.csv``) and the script that rebuilds it from the public results
repositories (``build_mlperf_tiny_table.py``). This folder is a package only so that the
wheel carries the table (``ecoscore.published``); see README.md here."""
