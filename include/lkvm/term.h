/* The host terminal: raw mode while a guest owns it, restored on every exit. */
#ifndef LKVM__TERM_H
#define LKVM__TERM_H

#include <stdbool.h>
#include <stddef.h>

struct kvm;

void term__setup(struct kvm *kvm);	/* raw mode if stdin is a tty; atexit restore */
void term__restore(void);
/* Input: the console device registers where bytes from stdin go. */
void term__set_input(void (*fn)(struct kvm *kvm, const char *buf, size_t len));
void term__write(const void *buf, size_t len);

#endif
