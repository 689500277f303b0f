ln -s /usr escape
ln -s ../amlspec.yaml src/leak.py
