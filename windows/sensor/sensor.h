/* edr-sensor.exe: ETW events (or a fixture file of recorded ones) become sequenced etwRecord
 * frames, kept until the detector acknowledges them and replayed after a reconnect. */
#ifndef EDR_SENSOR_H
#define EDR_SENSOR_H

#include <windows.h>
#include <evntrace.h>
#include <evntcons.h>
#include <stdint.h>

#include "../common/edr_wire.h"

/* The ETW callback: one EVENT_RECORD becomes one etwRecord frame. The real-time session
 * and the fixture reader both call it. */
void WINAPI edr_sensor_on_event(PEVENT_RECORD record);

/* Set when the sensor is asked to stop (console control, pipe server failure). */
extern volatile LONG edr_stop_requested;
extern HANDLE edr_stop_event;

/* Loss counters of the ETW session (ControlTraceW QUERY), updated by the stats thread. */
struct edr_etw_loss {
    uint64_t events_lost, realtime_buffers_lost, log_buffers_lost, buffers_written, query_failures;
};

/* etw.c: starts the session "edr-sensor", enables the providers and runs ProcessTrace on
 * the calling thread until the session stops. 0 on a clean stop, else the failing API's
 * error code (already logged with the API's name). */
ULONG edr_etw_run(void);
/* Stops the session (from any thread), so ProcessTrace returns. */
void edr_etw_stop(void);
/* Fills `loss` from ControlTraceW(EVENT_TRACE_CONTROL_QUERY); 0 or the error code. */
ULONG edr_etw_query(struct edr_etw_loss *loss);

/* devices.c: one record of the sensor's own provider (EDR_SENSOR_PROVIDER, event 1, version
 * 0) naming each drive letter's kernel device (QueryDosDeviceW), delivered through
 * edr_sensor_on_event before the ETW session starts, so the detector can write
 * "\Device\HarddiskVolume3\Windows" as "C:\Windows" as SigmaHQ rules do. User data: u16 count,
 * then count pairs of NUL-terminated UTF-16LE strings (drive "C:", device path). A recording
 * (--fixture) carries the map the recording sensor sent; none is added then. */
void edr_emit_device_map(void);

/* fixture.c: checks the whole file (any malformed record is an error naming its index and
 * offset; nothing is delivered then), then delivers every record through
 * edr_sensor_on_event. 0, or -1 with the reason logged. */
int edr_fixture_run(const wchar_t *path);
/* Only the check, for tests: 0 or -1 with the reason in `err`. Records counted in *count. */
int edr_fixture_check(const uint8_t *data, size_t size, size_t *count, char *err, size_t err_len);

void edr_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Logs "<api> failed: error <code> (<message>)" and returns code. */
DWORD edr_log_api_error(const char *api, DWORD code);

#endif
