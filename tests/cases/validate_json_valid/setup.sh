git init -q
