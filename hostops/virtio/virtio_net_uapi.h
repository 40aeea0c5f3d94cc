// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
// <linux/virtio_net.h> for C++: its control-queue header has a member
// named "class", a C++ keyword; nothing here uses that structure.
#ifndef LKD_HOSTOPS_VIRTIO_VIRTIO_NET_UAPI_H_
#define LKD_HOSTOPS_VIRTIO_VIRTIO_NET_UAPI_H_

#define class class_
#include <linux/virtio_net.h>
#undef class

#endif  // LKD_HOSTOPS_VIRTIO_VIRTIO_NET_UAPI_H_
