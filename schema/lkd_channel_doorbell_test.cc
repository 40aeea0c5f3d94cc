// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
// The doorbell (lkd_channel_doorbell.h): its adaptive spin policy, the
// spinner cap, yielding, and ring/wait between two threads and between two
// processes, with every futex and sched_yield call counted through the
// header's test hooks.
#include <linux/futex.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <ctime>
#include <functional>
#include <thread>

namespace {

// Counts per process (a forked child has its own).
std::atomic<long> g_futex_waits{0}, g_futex_wakes{0}, g_yields{0};
// When set, replaces a FUTEX_WAIT (single-threaded tests: whatever the
// sleeper would have waited for happens here instead).
std::function<void()> g_instead_of_sleep;
// When set, runs at each sched_yield.
std::function<void()> g_at_yield;

long CountingFutex(uint32_t* word, int op, uint32_t val, const timespec* ts) {
  if (op == FUTEX_WAKE) {
    g_futex_wakes++;
  } else {
    g_futex_waits++;
    if (g_instead_of_sleep) {
      g_instead_of_sleep();
      return 0;
    }
  }
  return syscall(SYS_futex, word, op, val, ts, nullptr, 0);
}

int CountingYield() {
  g_yields++;
  if (g_at_yield) g_at_yield();
  return sched_yield();
}

}  // namespace

#define LKD_DOORBELL_FUTEX(word, op, val, ts) CountingFutex(word, op, val, ts)
#define LKD_DOORBELL_YIELD() CountingYield()
#include "schema/lkd_channel_doorbell.h"

#include "gtest/gtest.h"
#include "schema/lkd_channel.h"

namespace {

class DoorbellTest : public ::testing::Test {
 protected:
  void SetUp() override {
    g_futex_waits = g_futex_wakes = g_yields = 0;
    g_instead_of_sleep = nullptr;
    g_at_yield = nullptr;
  }
};

constexpr uint64_t kForever = UINT64_MAX;

// Feeds `n` spinning waits with the given outcome to the policy, as
// lkd_doorbell_wait does for each wait that spins.
void Account(lkd_doorbell_spin* s, int n, bool hit) {
  for (int i = 0; i < n; i++) {
    ASSERT_NE(lkd_doorbell_spin_next(s), 0u) << "wait " << i << " should spin";
    lkd_doorbell_spin_account(s, hit);
  }
}

// The number of waits the policy lets sleep at once before it spins again.
int OffWaits(lkd_doorbell_spin* s) {
  int n = 0;
  while (lkd_doorbell_spin_next(s) == 0) {
    n++;
    if (n > 100000) break;
  }
  return n;
}

TEST_F(DoorbellTest, SpinningStaysOnWhileItPays) {
  lkd_doorbell_spin s;
  lkd_doorbell_spin_init(&s, 20000, nullptr, 0);
  // One hit in four is enough; 10 windows in a row keep spinning.
  for (int w = 0; w < 10; w++) {
    for (unsigned i = 0; i < LKD_DOORBELL_WINDOW; i++) {
      ASSERT_EQ(lkd_doorbell_spin_next(&s), 20000u) << "window " << w;
      lkd_doorbell_spin_account(&s, i % LKD_DOORBELL_MIN_HIT_RATIO == 0);
    }
  }
  EXPECT_EQ(lkd_doorbell_spin_next(&s), 20000u);
  EXPECT_EQ(s.hits, 10 * LKD_DOORBELL_WINDOW / LKD_DOORBELL_MIN_HIT_RATIO);
}

TEST_F(DoorbellTest, SpinningBacksOffExponentiallyAndProbesAgain) {
  lkd_doorbell_spin s;
  lkd_doorbell_spin_init(&s, 20000, nullptr, 0);
  Account(&s, LKD_DOORBELL_WINDOW, false);
  // Off for a period, then one probe window; each failed probe doubles the
  // period, up to the longest.
  unsigned expected = LKD_DOORBELL_OFF_MIN;
  for (int round = 0; round < 10; round++) {
    EXPECT_EQ(OffWaits(&s), static_cast<int>(expected)) << "round " << round;
    Account(&s, LKD_DOORBELL_WINDOW, false);
    expected = std::min(expected * 2, LKD_DOORBELL_OFF_MAX);
  }
  EXPECT_EQ(OffWaits(&s), static_cast<int>(LKD_DOORBELL_OFF_MAX));
  // A probe that pays turns spinning back on and resets the period.
  Account(&s, LKD_DOORBELL_WINDOW, true);
  EXPECT_EQ(lkd_doorbell_spin_next(&s), 20000u);
  Account(&s, LKD_DOORBELL_WINDOW, false);
  EXPECT_EQ(OffWaits(&s), static_cast<int>(LKD_DOORBELL_OFF_MIN));
}

TEST_F(DoorbellTest, MissesTurnARealWaitIntoASleepAtOnce) {
  // Through lkd_doorbell_wait itself: a peer that never answers within
  // the spin makes the waiter stop spinning.
  uint32_t word = 0, sleeping = 0;
  lkd_doorbell_spin s;
  lkd_doorbell_spin_init(&s, 1000, nullptr, 0);
  g_instead_of_sleep = [&] { word++; };  // the "answer" comes while asleep
  for (unsigned i = 0; i < LKD_DOORBELL_WINDOW; i++) {
    uint32_t old = word;
    EXPECT_EQ(lkd_doorbell_wait(&word, old, &sleeping, nullptr, &s, 0, nullptr), old + 1);
  }
  EXPECT_EQ(s.misses, LKD_DOORBELL_WINDOW);
  EXPECT_EQ(g_futex_waits, static_cast<long>(LKD_DOORBELL_WINDOW));
  // Now off: the next wait sleeps without spinning (no miss counted).
  int slept = 0;
  uint32_t old = word;
  EXPECT_EQ(lkd_doorbell_wait(&word, old, &sleeping, nullptr, &s, 0, &slept), old + 1);
  EXPECT_EQ(slept, 1);
  EXPECT_EQ(s.misses, LKD_DOORBELL_WINDOW);
  EXPECT_EQ(sleeping, 0u);
}

TEST_F(DoorbellTest, AWaiterBeyondTheSpinnerCapSleepsAtOnce) {
  uint32_t word = 0, sleeping = 0, spinners = 2;  // two others spin now
  lkd_doorbell_spin s;
  lkd_doorbell_spin_init(&s, kForever, &spinners, 2);
  g_instead_of_sleep = [&] { word = 1; };
  int slept = 0;
  EXPECT_EQ(lkd_doorbell_wait(&word, 0, &sleeping, nullptr, &s, 0, &slept), 1u);
  EXPECT_EQ(slept, 1);
  EXPECT_EQ(g_futex_waits, 1);
  EXPECT_EQ(s.capped, 1u);
  EXPECT_EQ(s.hits + s.misses, 0u);
  EXPECT_EQ(spinners, 2u);
  // Below the cap it spins (and gives its slot back).
  spinners = 1;
  g_at_yield = [&] { word = 2; };
  EXPECT_EQ(lkd_doorbell_wait(&word, 1, &sleeping, nullptr, &s, 0, &slept), 2u);
  EXPECT_EQ(slept, 0);
  EXPECT_EQ(s.hits, 1u);
  EXPECT_EQ(spinners, 1u);
  EXPECT_EQ(g_futex_waits, 1);
}

// cap_ns bounds one wait's spin whatever the policy's budget: a waiter
// whose peer was asleep spins briefly, then sleeps.
TEST_F(DoorbellTest, ACappedWaitSpinsOnlyThatLong) {
  uint32_t word = 0, sleeping = 0;
  lkd_doorbell_spin s;
  lkd_doorbell_spin_init(&s, kForever, nullptr, 0);
  s.cap_ns = 1000;
  g_instead_of_sleep = [&] { word = 1; };  // the answer comes only in the sleep
  int slept = 0;
  EXPECT_EQ(lkd_doorbell_wait(&word, 0, &sleeping, nullptr, &s, 0, &slept), 1u);
  EXPECT_EQ(slept, 1);
  EXPECT_EQ(s.misses, 1u);
  EXPECT_EQ(g_futex_waits, 1);
  // Uncapped, the same policy spins until the answer (here at a yield).
  s.cap_ns = 0;
  g_at_yield = [&] { word = 2; };
  EXPECT_EQ(lkd_doorbell_wait(&word, 1, &sleeping, nullptr, &s, 0, &slept), 2u);
  EXPECT_EQ(slept, 0);
  EXPECT_EQ(s.hits, 1u);
  EXPECT_EQ(g_futex_waits, 1);
}

TEST_F(DoorbellTest, ASpinnerYieldsEveryThousandPausesWithoutProgress) {
  uint32_t word = 0, sleeping = 0;
  lkd_doorbell_spin s;
  lkd_doorbell_spin_init(&s, kForever, nullptr, 0);
  // The "peer" answers at the third yield: only a spinner that yields
  // lets it run.
  g_at_yield = [&] {
    if (g_yields == 3) __atomic_store_n(&word, 7, __ATOMIC_RELEASE);
  };
  EXPECT_EQ(lkd_doorbell_wait(&word, 0, &sleeping, nullptr, &s, 0, nullptr), 7u);
  EXPECT_EQ(g_yields, 3);
  EXPECT_EQ(g_futex_waits + g_futex_wakes, 0);
}

TEST_F(DoorbellTest, RingWakesOnlyAnAnnouncedSleeper) {
  uint32_t word = 0, sleeping = 0;
  EXPECT_EQ(lkd_doorbell_ring(&word, &sleeping), 0);
  EXPECT_EQ(g_futex_wakes, 0);
  sleeping = 1;
  EXPECT_EQ(lkd_doorbell_ring(&word, &sleeping), 1);
  EXPECT_EQ(g_futex_wakes, 1);
}

// A ping-pong on one channel's doorbells: the "client" bumps req_seq and
// waits for resp_seq, the "server" answers each request. Returns false on
// a wait that timed out (a lost wake-up: nobody would ever ring again).
struct PingPong {
  lkd_channel ctl;
  uint32_t stop;
};

constexpr uint64_t kLostWakeupDeadline = 60ull * 1000 * 1000 * 1000;

bool Serve(PingPong* p, int rounds, uint64_t spin_ns) {
  lkd_doorbell_spin s;
  lkd_doorbell_spin_init(&s, spin_ns, nullptr, 0);
  uint32_t seen = 0;
  for (int i = 0; i < rounds; i++) {
    uint32_t v = lkd_doorbell_wait(&p->ctl.req_seq, seen, &p->ctl.server_sleeping,
                                   nullptr, &s, kLostWakeupDeadline, nullptr);
    if (v == seen) return false;
    seen = v;
    __atomic_store_n(&p->ctl.resp_seq, seen, __ATOMIC_RELEASE);
    lkd_doorbell_ring(&p->ctl.resp_seq, &p->ctl.client_sleeping);
  }
  return true;
}

bool Call(PingPong* p, int rounds, uint64_t spin_ns) {
  lkd_doorbell_spin s;
  lkd_doorbell_spin_init(&s, spin_ns, nullptr, 0);
  for (uint32_t seq = 1; seq <= static_cast<uint32_t>(rounds); seq++) {
    __atomic_store_n(&p->ctl.req_seq, seq, __ATOMIC_RELEASE);
    lkd_doorbell_ring(&p->ctl.req_seq, &p->ctl.server_sleeping);
    uint32_t v = lkd_doorbell_wait(&p->ctl.resp_seq, seq - 1, &p->ctl.client_sleeping,
                                   nullptr, &s, kLostWakeupDeadline, nullptr);
    if (v != seq) return false;
  }
  return true;
}

TEST_F(DoorbellTest, HotExchangeBetweenThreadsMakesNoSystemCall) {
  // Both sides spin without limit: every answer comes within the spin, so
  // neither side ever announces a sleep and neither rings with FUTEX_WAKE.
  PingPong p = {};
  constexpr int kRounds = 100000;
  bool served = false;
  std::thread server([&] { served = Serve(&p, kRounds, kForever); });
  EXPECT_TRUE(Call(&p, kRounds, kForever));
  server.join();
  EXPECT_TRUE(served);
  EXPECT_EQ(g_futex_waits, 0);
  EXPECT_EQ(g_futex_wakes, 0);
}

// A sleep a signal handler interrupts ends the wait (return_on_signal),
// flagged, with the word unchanged; without the flag the wait sleeps on
// until the word changes.
void Ignore(int) {}

TEST_F(DoorbellTest, ASignalHandlerEndsASleepOnlyWhenAsked) {
  struct sigaction sa = {};
  sa.sa_handler = Ignore;  // no SA_RESTART: FUTEX_WAIT fails with EINTR
  struct sigaction old;
  ASSERT_EQ(sigaction(SIGUSR1, &sa, &old), 0);
  for (int asked = 0; asked <= 1; asked++) {
    uint32_t word = 0, sleeping = 0;
    lkd_doorbell_spin spin;
    lkd_doorbell_spin_init(&spin, 0, nullptr, 0);
    spin.return_on_signal = asked;
    std::atomic<bool> returned{false};
    uint32_t got = 99;
    std::thread waiter([&] {
      got = lkd_doorbell_wait(&word, 0, &sleeping, nullptr, &spin, 0, nullptr);
      returned = true;
    });
    // Signal until the waiter is asleep and then once more; with the flag
    // it returns, without it the word's change ends the wait.
    while (!__atomic_load_n(&sleeping, __ATOMIC_SEQ_CST)) usleep(100);
    for (int i = 0; i < 20 && !returned; i++) {
      pthread_kill(waiter.native_handle(), SIGUSR1);
      usleep(1000);
    }
    if (!asked) {
      EXPECT_FALSE(returned.load()) << "a signal ended a wait not asked to end";
      __atomic_store_n(&word, 1, __ATOMIC_RELEASE);
      lkd_doorbell_ring(&word, &sleeping);
    }
    waiter.join();
    EXPECT_EQ(got, asked ? 0u : 1u);
    EXPECT_EQ(spin.interrupted, asked);
  }
  sigaction(SIGUSR1, &old, nullptr);
}

TEST_F(DoorbellTest, NoLostWakeupBetweenThreads) {
  // Spins of 0 and a few us: most waits announce a sleep, racing with the
  // other side's ring. A lost wake-up would leave a side asleep until the
  // deadline.
  for (uint64_t spin : {uint64_t{0}, uint64_t{500}, uint64_t{3000}}) {
    PingPong p = {};
    constexpr int kRounds = 20000;
    bool served = false;
    std::thread server([&] { served = Serve(&p, kRounds, spin); });
    EXPECT_TRUE(Call(&p, kRounds, spin / 2)) << "spin " << spin;
    server.join();
    EXPECT_TRUE(served) << "spin " << spin;
  }
  // Each side woke the other at most once per call.
  EXPECT_LE(g_futex_wakes, 2 * 3 * 20000);
}

TEST_F(DoorbellTest, NoLostWakeupBetweenProcesses) {
  // The doorbell's futexes are the shared kind: the same between two
  // processes on a shared mapping, as a client and lkd use it.
  auto* p = static_cast<PingPong*>(mmap(nullptr, sizeof(PingPong), PROT_READ | PROT_WRITE,
                                        MAP_SHARED | MAP_ANONYMOUS, -1, 0));
  ASSERT_NE(p, MAP_FAILED);
  constexpr int kRounds = 20000;
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) _exit(Serve(p, kRounds, 0) ? 0 : 1);
  EXPECT_TRUE(Call(p, kRounds, 0));
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  // The client rang at most once per call.
  EXPECT_LE(g_futex_wakes, kRounds);
  munmap(p, sizeof(PingPong));
}

}  // namespace
