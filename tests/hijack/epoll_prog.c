// SPDX-License-Identifier: GPL-2.0
// epoll_ctl's answers and their effect on the next epoll_wait, as an event
// loop meets them, printed one line per step: the test runs it on the host
// and under lkrun and wants the same transcript (liblkhijack defers and
// coalesces epoll_ctl on kernel sockets, hijack_epoll.c, and must not
// change an answer or an event).
//   epoll_prog            the transcript
//   epoll_prog threads    threads changing one epoll while another waits
//   epoll_prog churn N K  N rounds of redis's ae pattern on K sockets
//                         (MOD, DEL, ADD on each; wait; DEL, ADD on
//                         each; wait), silent
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

static int listener;
static struct sockaddr_in addr;

static void die(const char* what) {
  perror(what);
  exit(1);
}

// A connected TCP pair on loopback: *a (connected) and *b (accepted).
static void tcp_pair(int* a, int* b) {
  *a = socket(AF_INET, SOCK_STREAM, 0);
  if (*a < 0) die("socket");
  if (connect(*a, (struct sockaddr*)&addr, sizeof(addr)) < 0) die("connect");
  *b = accept(listener, NULL, NULL);
  if (*b < 0) die("accept");
}

static void ctl(const char* step, int ep, int op, int fd, unsigned events, unsigned long data) {
  struct epoll_event ev = {.events = events, .data.u64 = data};
  int r = epoll_ctl(ep, op, fd, &ev);
  printf("%s: %s\n", step, r == 0 ? "ok" : strerrorname_np(errno));
}

// Waits (timeout_ms) and prints what came: "n=K" then each event's data
// and mask, in data order (the kernel's order is not part of the answer).
static void wait_print(const char* step, int ep, int timeout_ms) {
  struct epoll_event evs[16];
  int n = epoll_wait(ep, evs, 16, timeout_ms);
  if (n < 0) {
    printf("%s: %s\n", step, strerrorname_np(errno));
    return;
  }
  for (int i = 0; i < n; i++)
    for (int j = i + 1; j < n; j++)
      if (evs[j].data.u64 < evs[i].data.u64) {
        struct epoll_event t = evs[i];
        evs[i] = evs[j];
        evs[j] = t;
      }
  printf("%s: n=%d", step, n);
  for (int i = 0; i < n; i++)
    printf(" [%lu %s%s]", (unsigned long)evs[i].data.u64, evs[i].events & EPOLLIN ? "IN" : "",
           evs[i].events & EPOLLOUT ? "OUT" : "");
  printf("\n");
}

struct waiter {
  int ep;
  int n;
  unsigned long data;
};

static void* wait_thread(void* arg) {
  struct waiter* w = arg;
  struct epoll_event ev;
  w->n = epoll_wait(w->ep, &ev, 1, 10000);
  w->data = w->n == 1 ? ev.data.u64 : 0;
  return NULL;
}

static void churn(long rounds, int sockets) {
  enum { kMax = 32 };
  int a[kMax], b[kMax];
  if (sockets < 1 || sockets > kMax) die("churn: 1..32 sockets");
  int ep = epoll_create1(0);
  struct epoll_event ev = {0}, got[kMax];
  for (int s = 0; s < sockets; s++) {
    tcp_pair(&a[s], &b[s]);
    if (write(b[s], "x", 1) != 1) die("write");  // a[s] stays readable and writable
    ev.events = EPOLLIN;
    ev.data.u64 = (unsigned long)s;
    if (epoll_ctl(ep, EPOLL_CTL_ADD, a[s], &ev) < 0) die("epoll_ctl");
  }
  for (long i = 0; i < rounds; i++) {
    for (int s = 0; s < sockets; s++) {  // after a reply: now send
      ev.data.u64 = (unsigned long)s;
      ev.events = EPOLLIN;
      if (epoll_ctl(ep, EPOLL_CTL_MOD, a[s], &ev) < 0) die("mod");
      if (epoll_ctl(ep, EPOLL_CTL_DEL, a[s], &ev) < 0) die("del");
      ev.events = EPOLLOUT;
      if (epoll_ctl(ep, EPOLL_CTL_ADD, a[s], &ev) < 0) die("add");
    }
    if (epoll_wait(ep, got, kMax, 1000) != sockets) die("wait out");
    for (int s = 0; s < sockets; s++) {
      if (got[s].events != EPOLLOUT) die("not out");
      ev.data.u64 = (unsigned long)s;  // after the send: now read
      if (epoll_ctl(ep, EPOLL_CTL_DEL, a[s], &ev) < 0) die("del");
      ev.events = EPOLLIN;
      if (epoll_ctl(ep, EPOLL_CTL_ADD, a[s], &ev) < 0) die("add");
    }
    if (epoll_wait(ep, got, kMax, 1000) != sockets) die("wait in");
    for (int s = 0; s < sockets; s++)
      if (got[s].events != EPOLLIN) die("not in");
  }
}

// "threads": 4 threads change the registrations of their own 4 sockets
// each on one shared epoll (DEL, ADD, MOD in turns, answers checked),
// while a fifth thread waits on it in a loop, so changes are deferred in
// the gaps between waits and made at once during them. At the end every
// socket is readable and registered once: one wait must report each of
// the 16 exactly once. Prints "threads: ok" or why not.
enum { kWorkers = 4, kPerWorker = 4, kRounds = 3000 };
static int shared_ep;
static int worker_fd[kWorkers][kPerWorker];
static volatile int workers_done;

static void* change_thread(void* arg) {
  const int w = (int)(long)arg;
  struct epoll_event ev = {0};
  for (int r = 0; r < kRounds; r++) {
    for (int i = 0; i < kPerWorker; i++) {
      const int fd = worker_fd[w][i];
      ev.data.u64 = (unsigned long)(w * kPerWorker + i);
      ev.events = EPOLLIN;
      if (epoll_ctl(shared_ep, EPOLL_CTL_DEL, fd, &ev) != 0) die("threads: del");
      if (epoll_ctl(shared_ep, EPOLL_CTL_DEL, fd, &ev) == 0 || errno != ENOENT)
        die("threads: second del not ENOENT");
      ev.events = EPOLLOUT;
      if (epoll_ctl(shared_ep, EPOLL_CTL_ADD, fd, &ev) != 0) die("threads: add");
      if (epoll_ctl(shared_ep, EPOLL_CTL_ADD, fd, &ev) == 0 || errno != EEXIST)
        die("threads: second add not EEXIST");
      ev.events = EPOLLIN;
      if (epoll_ctl(shared_ep, EPOLL_CTL_MOD, fd, &ev) != 0) die("threads: mod");
    }
  }
  __atomic_add_fetch(&workers_done, 1, __ATOMIC_SEQ_CST);
  return NULL;
}

static void* wait_loop(void* arg) {
  (void)arg;
  struct epoll_event got[64];
  while (__atomic_load_n(&workers_done, __ATOMIC_SEQ_CST) < kWorkers)
    if (epoll_wait(shared_ep, got, 64, 1) < 0 && errno != EINTR) die("threads: wait");
  return NULL;
}

static void threads_test(void) {
  shared_ep = epoll_create1(0);
  struct epoll_event ev = {0};
  for (int w = 0; w < kWorkers; w++)
    for (int i = 0; i < kPerWorker; i++) {
      int peer;
      tcp_pair(&worker_fd[w][i], &peer);
      if (write(peer, "x", 1) != 1) die("write");  // readable from now on
      ev.events = EPOLLIN;
      ev.data.u64 = (unsigned long)(w * kPerWorker + i);
      if (epoll_ctl(shared_ep, EPOLL_CTL_ADD, worker_fd[w][i], &ev) != 0) die("add");
    }
  pthread_t workers[kWorkers], waiter;
  pthread_create(&waiter, NULL, wait_loop, NULL);
  for (long w = 0; w < kWorkers; w++) pthread_create(&workers[w], NULL, change_thread, (void*)w);
  for (int w = 0; w < kWorkers; w++) pthread_join(workers[w], NULL);
  pthread_join(waiter, NULL);
  struct epoll_event got[64];
  int seen[kWorkers * kPerWorker] = {0};
  const int n = epoll_wait(shared_ep, got, 64, 1000);
  for (int i = 0; i < n; i++) {
    if (got[i].data.u64 >= kWorkers * kPerWorker || got[i].events != EPOLLIN) die("threads: event");
    seen[got[i].data.u64]++;
  }
  for (int i = 0; i < kWorkers * kPerWorker; i++)
    if (seen[i] != 1) {
      printf("threads: socket %d reported %d times (n=%d)\n", i, seen[i], n);
      return;
    }
  printf("threads: ok\n");
}

int main(int argc, char** argv) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  listener = socket(AF_INET, SOCK_STREAM, 0);
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  if (bind(listener, (struct sockaddr*)&addr, sizeof(addr)) < 0 || listen(listener, 64) < 0 ||
      getsockname(listener, (struct sockaddr*)&addr, &len) < 0)
    die("listener");
  if (argc == 4 && !strcmp(argv[1], "churn")) {
    churn(atol(argv[2]), atoi(argv[3]));
    return 0;
  }
  if (argc == 2 && !strcmp(argv[1], "threads")) {
    threads_test();
    return 0;
  }

  int a, b, c, d;
  tcp_pair(&a, &b);
  tcp_pair(&c, &d);
  int ep = epoll_create1(EPOLL_CLOEXEC);

  // Answers that depend only on what the set holds.
  ctl("add a", ep, EPOLL_CTL_ADD, a, EPOLLIN, 1);
  ctl("add a again", ep, EPOLL_CTL_ADD, a, EPOLLIN, 1);
  ctl("mod c (not added)", ep, EPOLL_CTL_MOD, c, EPOLLIN, 3);
  ctl("del c (not added)", ep, EPOLL_CTL_DEL, c, 0, 0);
  ctl("del a", ep, EPOLL_CTL_DEL, a, 0, 0);
  ctl("del a again", ep, EPOLL_CTL_DEL, a, 0, 0);
  ctl("mod a (deleted)", ep, EPOLL_CTL_MOD, a, EPOLLIN, 1);
  ctl("add a", ep, EPOLL_CTL_ADD, a, EPOLLIN, 1);
  ctl("add a after del+add", ep, EPOLL_CTL_ADD, a, EPOLLIN, 1);
  ctl("add self", ep, EPOLL_CTL_ADD, ep, EPOLLIN, 0);
  ctl("bad op", ep, 99, a, EPOLLIN, 1);
  ctl("add stdin-less fd 999", ep, EPOLL_CTL_ADD, 999, EPOLLIN, 1);

  // Changes between waits: only the last one counts.
  wait_print("nothing to read", ep, 0);
  if (write(b, "x", 1) != 1) die("write");
  wait_print("a readable", ep, 1000);
  ctl("mod a data 7", ep, EPOLL_CTL_MOD, a, EPOLLIN, 7);
  wait_print("data 7", ep, 1000);
  ctl("mod a out", ep, EPOLL_CTL_MOD, a, EPOLLIN | EPOLLOUT, 7);
  ctl("mod a back in, data 9", ep, EPOLL_CTL_MOD, a, EPOLLIN, 9);
  wait_print("data 9 in", ep, 1000);
  ctl("del a", ep, EPOLL_CTL_DEL, a, 0, 0);
  ctl("add a out", ep, EPOLL_CTL_ADD, a, EPOLLOUT, 11);
  ctl("add c out", ep, EPOLL_CTL_ADD, c, EPOLLOUT, 13);
  ctl("del c", ep, EPOLL_CTL_DEL, c, 0, 0);
  wait_print("a out, c gone", ep, 1000);
  ctl("del a", ep, EPOLL_CTL_DEL, a, 0, 0);
  ctl("add a in", ep, EPOLL_CTL_ADD, a, EPOLLIN, 15);
  ctl("del a", ep, EPOLL_CTL_DEL, a, 0, 0);
  wait_print("added and deleted: nothing", ep, 0);

  // A number closed (a change pending) and reused by another socket.
  ctl("add a", ep, EPOLL_CTL_ADD, a, EPOLLIN, 17);
  ctl("mod a", ep, EPOLL_CTL_MOD, a, EPOLLOUT, 17);
  int old_a = a;
  close(a);
  int e, f;
  tcp_pair(&e, &f);
  printf("reused number: %s\n", e == old_a ? "yes" : "no");
  ctl("add new socket at the number", ep, EPOLL_CTL_ADD, e, EPOLLIN, 19);
  wait_print("new socket not readable", ep, 0);
  if (write(f, "y", 1) != 1) die("write");
  wait_print("new socket readable", ep, 1000);

  // A number replaced by dup2 while registered.
  ctl("add c", ep, EPOLL_CTL_ADD, c, EPOLLIN, 21);
  ctl("mod c", ep, EPOLL_CTL_MOD, c, EPOLLOUT, 21);
  if (dup2(f, c) != c) die("dup2");
  ctl("mod c after dup2 over it", ep, EPOLL_CTL_MOD, c, EPOLLIN, 23);
  ctl("add c after dup2 over it", ep, EPOLL_CTL_ADD, c, EPOLLOUT, 23);
  wait_print("c (f's file) writable, e readable", ep, 1000);
  ctl("del c", ep, EPOLL_CTL_DEL, c, 0, 0);
  ctl("del e", ep, EPOLL_CTL_DEL, e, 0, 0);

  // Another thread waiting sees an ADD at once.
  struct waiter w = {.ep = ep};
  pthread_t t;
  pthread_create(&t, NULL, wait_thread, &w);
  usleep(200 * 1000);
  ctl("add e while a thread waits", ep, EPOLL_CTL_ADD, e, EPOLLIN, 25);
  pthread_join(t, NULL);
  printf("waiting thread: n=%d data=%lu\n", w.n, w.data);

  // One-shot and edge-triggered registrations are re-armed by MOD.
  ctl("mod e oneshot", ep, EPOLL_CTL_MOD, e, EPOLLIN | EPOLLONESHOT, 27);
  wait_print("oneshot fires", ep, 1000);
  wait_print("oneshot spent", ep, 0);
  ctl("mod e oneshot again", ep, EPOLL_CTL_MOD, e, EPOLLIN | EPOLLONESHOT, 27);
  wait_print("oneshot re-armed", ep, 1000);
  ctl("mod e edge", ep, EPOLL_CTL_MOD, e, EPOLLIN | EPOLLET, 29);
  wait_print("edge fires", ep, 1000);
  wait_print("edge quiet", ep, 0);
  ctl("mod e edge again", ep, EPOLL_CTL_MOD, e, EPOLLIN | EPOLLET, 29);
  wait_print("edge re-reported", ep, 1000);
  ctl("mod e level", ep, EPOLL_CTL_MOD, e, EPOLLIN, 31);

  // After a fork the set is shared: the child's DEL shows in the parent.
  pid_t pid = fork();
  if (pid == 0) {
    struct epoll_event ev = {0};
    _exit(epoll_ctl(ep, EPOLL_CTL_DEL, e, &ev) == 0 ? 0 : 1);
  }
  int status;
  waitpid(pid, &status, 0);
  printf("child's del: %s\n", WIFEXITED(status) && WEXITSTATUS(status) == 0 ? "ok" : "failed");
  ctl("mod e after the child's del", ep, EPOLL_CTL_MOD, e, EPOLLIN, 33);
  ctl("add e after the child's del", ep, EPOLL_CTL_ADD, e, EPOLLIN, 33);
  wait_print("e readable", ep, 1000);
  close(ep);
  printf("done\n");
  return 0;
}
