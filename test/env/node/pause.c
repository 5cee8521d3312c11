// The pod sandbox's process (what registry.k8s.io/pause does): it holds the pod's
// namespaces, reaps orphans when it is PID 1, and exits on SIGINT or SIGTERM. Built
// statically by test/env/node.ts into a one-file image, since no registry can be pulled.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

static void stop(int signal) {
  (void)signal;
  _exit(0);
}

static void reap(int signal) {
  (void)signal;
  while (waitpid(-1, 0, WNOHANG) > 0) {
  }
}

int main(void) {
  struct sigaction quit = {.sa_handler = stop};
  struct sigaction child = {.sa_handler = reap, .sa_flags = SA_NOCLDSTOP};
  if (sigaction(SIGINT, &quit, 0) < 0 || sigaction(SIGTERM, &quit, 0) < 0 ||
      sigaction(SIGCHLD, &child, 0) < 0) {
    return 1;
  }
  for (;;) pause();
}
