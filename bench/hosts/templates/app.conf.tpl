# app.conf of ${name} (managed by cairn)
[server]
name    = ${name}
index   = ${index}
listen  = ${addr}:${port}
workers = ${workers}
role    = ${role}
root    = ${root}
[peers]
${peers}