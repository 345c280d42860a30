/*
 * vm_hour.c — the per-VM hourly arithmetic of the rollup (pure: no I/O):
 * the mean, the max and the increase of each counter over one hour from a
 * VM's samples in time order; see vm_hour.h for the rules.
 */
#include "vm_hour.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>

#define HOUR 3600LL

void vm_acc_init(struct vm_acc *a, long long hour_start)
{
	*a = (struct vm_acc){ .hour_start = hour_start, .last_t = LLONG_MIN };
}

static uint64_t step_u(uint64_t prev, uint64_t v)
{
	return v >= prev ? v - prev : v;
}

int vm_acc_add(struct vm_acc *a, const struct vm_sample *s)
{
	if (s->t <= a->last_t)
		return -1;
	a->last_t = s->t;
	if (s->t >= a->hour_start + HOUR)
		return 0;
	bool inside = s->t >= a->hour_start;
	const uint64_t u[4] = { s->io_read, s->io_write, s->net_tx_bytes, s->net_rx_bytes };
	if (inside) {
		a->samples++;
		if (s->have & 1u << VM_MEM) {
			a->mem_sum += s->mem_mib;
			a->mem_n++;
		}
		if (s->have & 1u << VM_DISK && (!a->disk_have || s->disk_gib > a->disk_max)) {
			a->disk_max = s->disk_gib;
			a->disk_have = true;
		}
	}
	if (s->have & 1u << VM_CPU && s->cpu_seconds >= 0) {
		if (inside && a->have_last & 1u << VM_CPU)
			a->cpu_inc += s->cpu_seconds >= a->cpu_last ? s->cpu_seconds - a->cpu_last
								     : s->cpu_seconds;
		a->cpu_last = s->cpu_seconds;
		a->have_last |= 1u << VM_CPU;
	}
	for (int k = 0; k < 4; k++) {
		unsigned bit = 1u << (VM_IO_READ + k);
		if (!(s->have & bit))
			continue;
		if (inside && a->have_last & bit)
			a->inc[k] += step_u(a->last[k], u[k]);
		a->last[k] = u[k];
		a->have_last |= bit;
	}
	return 0;
}

bool vm_acc_result(const struct vm_acc *a, struct vm_hour *out)
{
	if (a->samples == 0)
		return false;
	*out = (struct vm_hour){
		.mem_mib_mean = a->mem_n ? a->mem_sum / a->mem_n : 0,
		.disk_gib_max = a->disk_have ? a->disk_max : 0,
		.cpu_seconds = a->cpu_inc,
		.io_read = a->inc[0], .io_write = a->inc[1],
		.net_tx_bytes = a->inc[2], .net_rx_bytes = a->inc[3],
		.samples = a->samples,
	};
	return true;
}
