git init -q
printf 'experiment: e\0\n' > nul.run.yaml
