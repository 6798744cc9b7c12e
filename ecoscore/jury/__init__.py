"""The jury's tools: trusted keys and signatures, submission bundles, verification rules,
comparison of many records, policies, and replication of a record on this machine."""
