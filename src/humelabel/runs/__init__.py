"""Many runs to one labeling: seeds, cache and resume, parallel jobs, selection, scoring,
combination and reliable samples."""
