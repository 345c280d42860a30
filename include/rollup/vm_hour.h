/*
 * vm_hour.h — one VM's hourly record from its samples (pure: no I/O).
 *
 * For hour [H, H+3600) and one VM:
 *   - mem_mib_mean: mean of mem_mib over the samples inside the hour;
 *   - disk_gib_max: max of disk_gib inside the hour;
 *   - each counter: its increase, sum over consecutive samples of
 *     (v_i >= v_{i-1} ? v_i - v_{i-1} : v_i), starting from the last sample
 *     before H when there is one within lookback_s (used only as the
 *     starting point), a drop counting as a restart from zero (Prometheus'
 *     increase() without extrapolation).  Each counter chains over its own
 *     non-null values; a negative counter value is treated as absent;
 *   - samples: the points inside the hour.
 * A VM with no sample inside the hour has no record.
 *
 * Ownership: plain values, nothing allocated.  Any thread.
 */
#ifndef AGG_VM_HOUR_H
#define AGG_VM_HOUR_H

#include <stdbool.h>
#include <stdint.h>

struct vm_hour {
	double mem_mib_mean;	/* MiB, mean over the samples inside the hour with a value (0 if none) */
	double disk_gib_max;	/* GiB, max inside the hour (0 if none) */
	double cpu_seconds;	/* s, increase of the CPU counter over the hour */
	uint64_t io_read, io_write;		/* operations, increase over the hour */
	uint64_t net_tx_bytes, net_rx_bytes;	/* bytes, increase over the hour */
	uint32_t samples;	/* points inside [H, H+3600) */
};

/* ---- Feed one series' samples in time order. ---- */

enum vm_field { VM_MEM, VM_DISK, VM_CPU, VM_IO_READ, VM_IO_WRITE, VM_NET_TX, VM_NET_RX, VM_NFIELDS };

struct vm_sample {
	long long t;		/* Unix seconds */
	unsigned have;		/* bit (1u << VM_x) for each field with a value (not null) */
	double mem_mib, disk_gib, cpu_seconds;			/* MiB, GiB, s */
	uint64_t io_read, io_write, net_tx_bytes, net_rx_bytes;	/* counters */
};

struct vm_acc {
	long long hour_start;	/* H, Unix seconds */
	long long last_t;	/* time of the last sample fed, LLONG_MIN before the first */
	uint32_t samples;	/* inside [H, H+3600) */
	uint32_t mem_n;		/* samples inside with a mem value */
	double mem_sum;		/* MiB, sum over those */
	double disk_max;	/* GiB, valid when disk_have */
	bool disk_have;
	unsigned have_last;	/* bit (1u << VM_x): counter x has a previous value */
	double cpu_last, cpu_inc;	/* s */
	uint64_t last[4], inc[4];	/* io_read, io_write, net_tx, net_rx */
};

void vm_acc_init(struct vm_acc *a, long long hour_start);
/*
 * Feed one sample.  Samples before H only set the counters' starting
 * points; samples at or after H+3600 are ignored.  0, or -1 when s is older
 * than the previous sample (a is unchanged).
 */
int vm_acc_add(struct vm_acc *a, const struct vm_sample *s);
/* Fill out; false (out untouched) when no sample fell inside the hour. */
bool vm_acc_result(const struct vm_acc *a, struct vm_hour *out);

#endif
