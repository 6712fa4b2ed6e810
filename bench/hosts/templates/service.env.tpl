APP_NAME=sshpeer-${name}
APP_INDEX=${index}
APP_PORT=${port}
APP_ROLE=${role}
APP_HEAP_MB=${heap}
APP_DATA=${root}/var/lib/app
APP_LOG=${root}/var/log/app
