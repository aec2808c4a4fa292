/* The drive-letter map: which kernel device each drive letter stands for. ETW's kernel
 * providers name files by device ("\Device\HarddiskVolume3\Windows\System32\cmd.exe");
 * SigmaHQ's rules name them by drive ("C:\Windows\System32\cmd.exe"). The sensor knows the
 * mapping, the detector (which may not ask the system anything) learns it from this record. */
#include "sensor.h"

#include <string.h>

/* {8E7B3C1A-4D2F-4A6B-9C5E-2F1D0A3B7C64}: the sensor's own records (not an ETW provider). */
static const GUID edr_sensor_provider = {0x8E7B3C1A, 0x4D2F, 0x4A6B, {0x9C, 0x5E, 0x2F, 0x1D, 0x0A, 0x3B, 0x7C, 0x64}};

static size_t put_wide(uint8_t *out, size_t at, size_t cap, const wchar_t *s)
{
    size_t n = (wcslen(s) + 1) * sizeof(wchar_t);
    if (at + n > cap) return 0;
    memcpy(out + at, s, n);
    return n;
}

/* Drive letters and devices into data (after its 2-byte count); returns the bytes used. */
static size_t fill_device_map(uint8_t *data, size_t cap, uint16_t *count_out)
{
    size_t at = 2;
    uint16_t count = 0;
    DWORD drives = GetLogicalDrives();
    for (int i = 0; i < 26; i++) {
        if (!(drives & (1u << i))) continue;
        wchar_t drive[3] = {(wchar_t)(L'A' + i), L':', 0};
        wchar_t device[MAX_PATH];
        if (!QueryDosDeviceW(drive, device, MAX_PATH)) {
            edr_log_api_error("QueryDosDeviceW", GetLastError());
            continue;
        }
        size_t a = put_wide(data, at, cap, drive);
        size_t b = a ? put_wide(data, at + a, cap, device) : 0;
        if (!a || !b) break;
        at += a + b;
        count++;
    }
    *count_out = count;
    return at;
}

void edr_emit_device_map(void)
{
    static uint8_t data[26 * (2 * 4 + 2 * MAX_PATH + 2) + 2];
    uint16_t count = 0;
    size_t at = fill_device_map(data, sizeof data, &count);
    /* No drive at all: the system's mount manager is not answering yet (a Wine server that
     * has just started brings its mountmgr up alongside the first program). A map without C:
     * would leave every path in device form, so ask again for up to a second. */
    for (int tries = 0; count == 0 && tries < 10; tries++) {
        Sleep(100);
        at = fill_device_map(data, sizeof data, &count);
    }
    data[0] = (uint8_t)(count & 0xFF);
    data[1] = (uint8_t)(count >> 8);

    EVENT_RECORD r;
    memset(&r, 0, sizeof r);
    r.EventHeader.Size = sizeof(EVENT_HEADER);
    r.EventHeader.ProviderId = edr_sensor_provider;
    r.EventHeader.EventDescriptor.Id = 1;
    r.EventHeader.ProcessId = GetCurrentProcessId();
    r.EventHeader.ThreadId = GetCurrentThreadId();
    FILETIME now;
    GetSystemTimeAsFileTime(&now);
    r.EventHeader.TimeStamp.QuadPart = (LONGLONG)(((uint64_t)now.dwHighDateTime << 32) | now.dwLowDateTime);
    r.UserDataLength = (USHORT)at;
    r.UserData = data;
    edr_log("device map: %u drive letters", (unsigned)count);
    edr_sensor_on_event(&r);
}
