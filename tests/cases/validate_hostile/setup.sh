git init -q
# 10 MB: refused before it is read
head -c 10485760 /dev/zero | tr '\0' '#' > big.run.yaml
# 10,000 nested flow sequences: refused at the depth limit
{ printf 'experiment: '; head -c 10000 /dev/zero | tr '\0' '['; } > deep.run.yaml
# more than 100,000 nodes within 1 MB
{ printf 'experiment: e\ncommand: ['; for i in $(seq 1 1000); do printf '1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,'; done; printf '1]\n'; } > many.run.yaml
