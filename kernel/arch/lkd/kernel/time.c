// SPDX-License-Identifier: GPL-2.0
/*
 * Time: the clocksource and sched_clock read the host's monotonic clock;
 * the clockevent is one host one-shot timer whose expiry raises the timer
 * IRQ. The wall clock starts from the host's CLOCK_REALTIME.
 */
#include <linux/clockchips.h>
#include <linux/clocksource.h>
#include <linux/interrupt.h>
#include <linux/irq.h>
#include <linux/sched/clock.h>
#include <linux/time64.h>
#include <linux/timekeeping.h>
#include <linux/timer.h>
#include <linux/workqueue.h>
#include <asm/irq.h>

#include "internal.h"

static u64 boot_ns;
static struct lkd_host_timer *event_timer;

unsigned long long sched_clock(void)
{
	if (!lkd_host)
		return 0;
	return lkd_host->time_monotonic_ns() - boot_ns;
}

static u64 lkd_cs_read(struct clocksource *cs)
{
	return lkd_host->time_monotonic_ns();
}

static struct clocksource lkd_clocksource = {
	.name	= "lkd-host",
	.rating	= 400,
	.read	= lkd_cs_read,
	.mask	= CLOCKSOURCE_MASK(64),
	.flags	= CLOCK_SOURCE_IS_CONTINUOUS,
};

void read_persistent_clock64(struct timespec64 *ts)
{
	*ts = ns_to_timespec64(lkd_host->time_realtime_ns());
}

void lkd_ndelay(unsigned long nsecs)
{
	u64 end = lkd_host->time_monotonic_ns() + nsecs;

	while (lkd_host->time_monotonic_ns() < end)
		cpu_relax();
}

static void lkd_timer_expired(void *arg)
{
	lkd_irq_raise(LKD_TIMER_IRQ);
}

static int lkd_ce_next_event(unsigned long delta,
			     struct clock_event_device *evt)
{
	return lkd_host->timer_set(event_timer, delta);
}

static int lkd_ce_shutdown(struct clock_event_device *evt)
{
	lkd_host->timer_cancel(event_timer);
	return 0;
}

static struct clock_event_device lkd_clockevent = {
	.name			= "lkd-host-timer",
	.features		= CLOCK_EVT_FEAT_ONESHOT,
	.set_next_event		= lkd_ce_next_event,
	.set_state_shutdown	= lkd_ce_shutdown,
	.set_state_oneshot_stopped = lkd_ce_shutdown,
	.rating			= 100,
	.irq			= LKD_TIMER_IRQ,
};

static irqreturn_t lkd_timer_irq(int irq, void *dev)
{
	lkd_clockevent.event_handler(&lkd_clockevent);
	return IRQ_HANDLED;
}

/* Called by lkd_start() before anything prints: time 0 is the boot. */
void lkd_time_start(void)
{
	boot_ns = lkd_host->time_monotonic_ns();
}

void __init time_init(void)
{
	event_timer = lkd_host->timer_alloc(lkd_timer_expired, NULL);
	if (!event_timer)
		panic("lkd: no host timer");
	if (request_irq(LKD_TIMER_IRQ, lkd_timer_irq, IRQF_TIMER, "timer", NULL))
		panic("lkd: cannot request the timer IRQ");
	if (clocksource_register_hz(&lkd_clocksource, NSEC_PER_SEC))
		panic("lkd: cannot register the clocksource");
	lkd_clockevent.cpumask = cpu_possible_mask;
	/* 1 ns resolution; up to ~292 years. */
	clockevents_config_and_register(&lkd_clockevent, NSEC_PER_SEC, 1,
					ULONG_MAX);
}

void lkd_time_halt(void)
{
	lkd_host->timer_free(event_timer);
}

/*
 * The wall clock follows the host's. read_persistent_clock64() starts it
 * while jiffies is still the clocksource, which left it most of a tick
 * behind the host's for good (ping under lkrun saw its echo replies time
 * stamped 0.7 ms before it sent the requests). Once the host's clocksource
 * runs it is set again, and then looked at once a minute, so that a step
 * of the host's clock (NTP, an administrator) is followed. Both clocks
 * advance at the host's rate in between: only steps make them part.
 */
#define LKD_WALLCLOCK_SLACK_NS	(20 * NSEC_PER_USEC)
#define LKD_WALLCLOCK_PERIOD	(60 * HZ)

static void lkd_wallclock_sync(struct work_struct *work);
static DECLARE_DELAYED_WORK(lkd_wallclock_work, lkd_wallclock_sync);

static void lkd_wallclock_sync(struct work_struct *work)
{
	struct timespec64 host = ns_to_timespec64(lkd_host->time_realtime_ns());
	s64 diff = timespec64_to_ns(&host) - ktime_get_real_ns();

	if (diff > LKD_WALLCLOCK_SLACK_NS || diff < -LKD_WALLCLOCK_SLACK_NS)
		do_settimeofday64(&host);
	schedule_delayed_work(&lkd_wallclock_work,
			      round_jiffies_relative(LKD_WALLCLOCK_PERIOD));
}

static int __init lkd_wallclock_init(void)
{
	lkd_wallclock_sync(NULL);
	return 0;
}
late_initcall(lkd_wallclock_init);
