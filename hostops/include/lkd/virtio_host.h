/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * lkd virtio host: what a device model on the host side needs of the
 * library kernel, and nothing more. Device models (hostops/virtio) include
 * this header, never lkd/kernel.h, so that they depend on hostops alone;
 * the code that links the kernel binds the two entry points below to
 * lkd_virtio_mmio_add() and lkd_irq_raise() (kernel.h documents both).
 * Freestanding C, like lkd/hostops.h: kernel.h includes it for the struct.
 */
#ifndef LKD_VIRTIO_HOST_H
#define LKD_VIRTIO_HOST_H

#ifdef __cplusplus
extern "C" {
#endif

/*
 * A memory-mapped device window. Reads and writes the kernel makes to the
 * window's addresses (readl/writel, ...) are forwarded here, on the host
 * thread that runs kernel code; `off` is relative to the window, `size` is
 * 1, 2, 4 or 8.
 */
struct lkd_mmio_ops {
	unsigned long long (*read)(void *dev, unsigned long off, int size);
	void (*write)(void *dev, unsigned long off, unsigned long long value,
		      int size);
};

/*
 * The shapes of the two kernel entry points a device uses: registering
 * its window before boot (returns the interrupt number or -errno), and
 * raising that interrupt (any thread; must not hold a lock the device's
 * own mmio callbacks take, as the handler may run on the caller).
 */
typedef int (*lkd_mmio_add_fn)(const struct lkd_mmio_ops *ops, void *dev,
			       unsigned long size);
typedef void (*lkd_irq_raise_fn)(int irq);

#ifdef __cplusplus
}
#endif

#endif /* LKD_VIRTIO_HOST_H */
