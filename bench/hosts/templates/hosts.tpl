# /etc/hosts (managed by cairn)
127.0.0.1   localhost
${lines}