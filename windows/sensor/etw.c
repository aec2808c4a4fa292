/* The real-time ETW session: one session, six manifest providers, ProcessTrace delivering
 * EVENT_RECORDs to edr_sensor_on_event.
 *
 * Buffers (see windows/README.md): 64 KiB buffers (the largest event ETW writes is 64 KiB,
 * a smaller buffer would drop it), 64 always allocated (4 MiB), up to 1,024 (64 MiB) while
 * the consumer lags: a 4,000-process burst writes about 4,000 x (start 1 KiB + stop 0.3 KiB
 * + ~20 image loads x 0.3 KiB + file, registry and network events ~ 8 KiB) = ~60 MiB even if
 * the consumer did not run at all. FlushTimer 1 s: a quiet host's events arrive within a
 * second. What still does not fit is counted by ETW (EventsLost, RealTimeBuffersLost) and
 * reported in every sensorStats frame. */
#include "sensor.h"

#include <stdio.h>
#include <string.h>

#define SESSION_NAME L"edr-sensor"
#define BUFFER_KB 64
#define MIN_BUFFERS 64
#define MAX_BUFFERS 1024
#define FLUSH_SECONDS 1

/* EVENT_FILTER_TYPE_EVENT_ID (Windows 8.1): only these event IDs are written. Not in
 * MinGW's headers, so declared here as in Windows' evntprov.h. */
#define EDR_EVENT_FILTER_TYPE_EVENT_ID 0x80000200u
struct edr_event_id_filter {
    BOOLEAN filter_in;
    UCHAR reserved;
    USHORT count;
    USHORT events[4];
};

struct edr_provider {
    const char *name;
    GUID guid;
    UCHAR level;
    ULONGLONG any_keyword;
    USHORT event_ids[4]; /* 0-terminated; none: keywords alone select */
};

/* Keywords are the providers' manifest keywords (`logman query providers <name>`). Where
 * the wanted events are a few IDs, the event-ID filter selects them and all keywords are on. */
static const struct edr_provider providers[] = {
    /* WINEVENT_KEYWORD_PROCESS 0x10 (1 ProcessStart, 2 ProcessStop) | WINEVENT_KEYWORD_IMAGE
     * 0x40 (5 ImageLoad, 6 ImageUnload). */
    {"Microsoft-Windows-Kernel-Process", {0x22FB2CD6, 0x0E7B, 0x422B, {0xA0, 0xC7, 0x2F, 0xAD, 0x1F, 0xD0, 0xE7, 0x16}},
     TRACE_LEVEL_VERBOSE, 0x10 | 0x40, {0}},
    /* FILENAME 0x10 (10 NameCreate, 11 NameDelete) | CREATE 0x80 (12 Create) | WRITE 0x200
     * (16 Write) | DELETE_PATH 0x400 (26) | RENAME_SETLINK_PATH 0x800 (27) |
     * CREATE_NEW_FILE 0x1000 (30). */
    {"Microsoft-Windows-Kernel-File", {0xEDD08927, 0x9CC4, 0x4E65, {0xB9, 0x70, 0xC2, 0x56, 0x0F, 0xB5, 0xC2, 0x89}},
     TRACE_LEVEL_VERBOSE, 0x10 | 0x80 | 0x200 | 0x400 | 0x800 | 0x1000, {0}},
    /* KERNEL_NETWORK_KEYWORD_IPV4 0x10 | IPV6 0x20: TCP connect 12/28, accept 15/31, UDP
     * send/receive 42/43, 58/59. */
    {"Microsoft-Windows-Kernel-Network", {0x7DD42A49, 0x5329, 0x4832, {0x8D, 0xFD, 0x43, 0xD9, 0x79, 0x15, 0x3A, 0x88}},
     TRACE_LEVEL_VERBOSE, 0x10 | 0x20, {0}},
    /* Event IDs 1 CreateKey, 3 DeleteKey, 5 SetValueKey, 6 DeleteValueKey. */
    {"Microsoft-Windows-Kernel-Registry", {0x70EB4F03, 0xC1DE, 0x4F73, {0xA0, 0x51, 0x33, 0xD1, 0x3D, 0x54, 0x13, 0xBD}},
     TRACE_LEVEL_VERBOSE, 0xFFFFFFFFFFFFFFFFull, {1, 3, 5, 6}},
    /* 3006 query started, 3008 query completed. */
    {"Microsoft-Windows-DNS-Client", {0x1C95126E, 0x7EEA, 0x49A9, {0xA3, 0xFE, 0xA3, 0x78, 0xB0, 0x3D, 0xDB, 0x4D}},
     TRACE_LEVEL_VERBOSE, 0xFFFFFFFFFFFFFFFFull, {3006, 3008, 0}},
    /* 4104 script block text (keyword Runspace, level verbose). */
    {"Microsoft-Windows-PowerShell", {0xA0C1853B, 0x5C40, 0x4B15, {0x87, 0x66, 0x3C, 0xF1, 0xC5, 0x8F, 0x98, 0x5A}},
     TRACE_LEVEL_VERBOSE, 0xFFFFFFFFFFFFFFFFull, {4104, 0}},
};

static TRACEHANDLE session;
static TRACEHANDLE consumer = INVALID_PROCESSTRACE_HANDLE;

struct props_buf {
    EVENT_TRACE_PROPERTIES p;
    wchar_t name[64];
};

static void init_props(struct props_buf *b)
{
    memset(b, 0, sizeof *b);
    b->p.Wnode.BufferSize = sizeof *b;
    b->p.Wnode.Flags = WNODE_FLAG_TRACED_GUID;
    b->p.Wnode.ClientContext = 1; /* QPC; ProcessTrace hands out FILETIME stamps */
    b->p.LogFileMode = EVENT_TRACE_REAL_TIME_MODE;
    b->p.BufferSize = BUFFER_KB;
    b->p.MinimumBuffers = MIN_BUFFERS;
    b->p.MaximumBuffers = MAX_BUFFERS;
    b->p.FlushTimer = FLUSH_SECONDS;
    b->p.LoggerNameOffset = offsetof(struct props_buf, name);
}

static const GUID event_trace_guid = {0x68fdd900, 0x4a3e, 0x11d1, {0x84, 0xf4, 0x00, 0x00, 0xf8, 0x04, 0x64, 0xe3}};

static void WINAPI on_event(PEVENT_RECORD r)
{
    /* The session's own header event (EventTraceGuid) is not a provider's event. */
    if (IsEqualGUID(&r->EventHeader.ProviderId, &event_trace_guid)) return;
    edr_sensor_on_event(r);
}

ULONG edr_etw_run(void)
{
    struct props_buf b;
    init_props(&b);
    ULONG rc = StartTraceW(&session, SESSION_NAME, &b.p);
    if (rc == ERROR_ALREADY_EXISTS) {
        /* Left over from a sensor that died: stop it and start ours. */
        edr_log("session %ls exists; stopping it", SESSION_NAME);
        init_props(&b);
        ControlTraceW(0, SESSION_NAME, &b.p, EVENT_TRACE_CONTROL_STOP);
        init_props(&b);
        rc = StartTraceW(&session, SESSION_NAME, &b.p);
    }
    if (rc != ERROR_SUCCESS) return edr_log_api_error("StartTraceW", rc);
    edr_log("ETW session %ls: BufferSize %u KiB, MinimumBuffers %u, MaximumBuffers %u, FlushTimer %u s",
            SESSION_NAME, BUFFER_KB, MIN_BUFFERS, MAX_BUFFERS, FLUSH_SECONDS);

    int enabled = 0;
    for (size_t i = 0; i < sizeof providers / sizeof providers[0]; i++) {
        const struct edr_provider *pv = &providers[i];
        ENABLE_TRACE_PARAMETERS params;
        EVENT_FILTER_DESCRIPTOR desc;
        struct edr_event_id_filter ids;
        memset(&params, 0, sizeof params);
        memset(&ids, 0, sizeof ids);
        params.Version = ENABLE_TRACE_PARAMETERS_VERSION_2;
        USHORT n = 0;
        while (n < 4 && pv->event_ids[n]) n++;
        if (n > 0) {
            ids.filter_in = TRUE;
            ids.count = n;
            memcpy(ids.events, pv->event_ids, n * sizeof(USHORT));
            desc.Ptr = (ULONGLONG)(ULONG_PTR)&ids;
            desc.Size = (ULONG)(offsetof(struct edr_event_id_filter, events) + n * sizeof(USHORT));
            desc.Type = EDR_EVENT_FILTER_TYPE_EVENT_ID;
            params.EnableFilterDesc = &desc;
            params.FilterDescCount = 1;
        }
        rc = EnableTraceEx2(session, &pv->guid, EVENT_CONTROL_CODE_ENABLE_PROVIDER, pv->level, pv->any_keyword, 0, 0, &params);
        if (rc != ERROR_SUCCESS) {
            char what[96];
            snprintf(what, sizeof what, "EnableTraceEx2(%s)", pv->name);
            edr_log_api_error(what, rc);
            continue; /* the other providers still report */
        }
        edr_log("enabled %s keywords 0x%llx, %u event IDs", pv->name, (unsigned long long)pv->any_keyword, n);
        enabled++;
    }
    if (enabled == 0) {
        edr_etw_stop();
        edr_log("no provider could be enabled");
        return ERROR_NOT_SUPPORTED;
    }

    EVENT_TRACE_LOGFILEW lf;
    memset(&lf, 0, sizeof lf);
    lf.LoggerName = SESSION_NAME;
    lf.ProcessTraceMode = PROCESS_TRACE_MODE_REAL_TIME | PROCESS_TRACE_MODE_EVENT_RECORD;
    lf.EventRecordCallback = on_event;
    consumer = OpenTraceW(&lf);
    if (consumer == INVALID_PROCESSTRACE_HANDLE) {
        DWORD e = GetLastError();
        edr_etw_stop();
        return edr_log_api_error("OpenTraceW", e);
    }
    rc = ProcessTrace(&consumer, 1, NULL, NULL);
    CloseTrace(consumer);
    consumer = INVALID_PROCESSTRACE_HANDLE;
    if (rc != ERROR_SUCCESS && rc != ERROR_CANCELLED) return edr_log_api_error("ProcessTrace", rc);
    return 0;
}

void edr_etw_stop(void)
{
    struct props_buf b;
    init_props(&b);
    ControlTraceW(0, SESSION_NAME, &b.p, EVENT_TRACE_CONTROL_STOP);
}

ULONG edr_etw_query(struct edr_etw_loss *loss)
{
    struct props_buf b;
    init_props(&b);
    ULONG rc = ControlTraceW(0, SESSION_NAME, &b.p, EVENT_TRACE_CONTROL_QUERY);
    if (rc != ERROR_SUCCESS) {
        loss->query_failures++;
        return rc;
    }
    loss->events_lost = b.p.EventsLost;
    loss->realtime_buffers_lost = b.p.RealTimeBuffersLost;
    loss->log_buffers_lost = b.p.LogBuffersLost;
    loss->buffers_written = b.p.BuffersWritten;
    return 0;
}
