package qemu

import "syscall"

var syscallTERM = syscall.SIGTERM
