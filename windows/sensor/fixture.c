/* Fixture source: recorded etwRecord payloads, each preceded by its u32 little-endian length,
 * turned back into EVENT_RECORDs and handed to the same callback the ETW session calls. */
#include "sensor.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int edr_fixture_check(const uint8_t *data, size_t size, size_t *count, char *err, size_t err_len)
{
    size_t off = 0, index = 0;
    while (off < size) {
        size_t left = size - off;
        if (left < 4) {
            snprintf(err, err_len, "record %u at offset %llu: truncated length field (%u bytes left, need 4)",
                     (unsigned)index, (unsigned long long)off, (unsigned)left);
            return -1;
        }
        uint32_t len = edr_get32(data + off);
        if ((uint64_t)len > left - 4) {
            snprintf(err, err_len, "record %u at offset %llu: length %u is larger than the %llu bytes left in the file",
                     (unsigned)index, (unsigned long long)off, len, (unsigned long long)(left - 4));
            return -1;
        }
        if (len < EDR_ETW_HEADER_SIZE) {
            snprintf(err, err_len, "record %u at offset %llu: length %u is shorter than the %d-byte etwRecord header",
                     (unsigned)index, (unsigned long long)off, len, EDR_ETW_HEADER_SIZE);
            return -1;
        }
        const uint8_t *p = data + off + 4;
        uint16_t udl = edr_get16(p + EDR_ETW_USER_DATA_LENGTH);
        if ((uint32_t)udl != len - EDR_ETW_HEADER_SIZE) {
            snprintf(err, err_len, "record %u at offset %llu: UserDataLength %u disagrees with the record length %u (expected %u)",
                     (unsigned)index, (unsigned long long)off, udl, len, len - EDR_ETW_HEADER_SIZE);
            return -1;
        }
        if (edr_get32(p + EDR_ETW_RESERVED) != 0) {
            snprintf(err, err_len, "record %u at offset %llu: reserved field at payload offset %d is not 0",
                     (unsigned)index, (unsigned long long)off, EDR_ETW_RESERVED);
            return -1;
        }
        off += 4 + (size_t)len;
        index++;
    }
    *count = index;
    return 0;
}

static uint8_t *read_whole_file(const wchar_t *path, size_t *size)
{
    HANDLE h = CreateFileW(path, GENERIC_READ, FILE_SHARE_READ, NULL, OPEN_EXISTING, FILE_ATTRIBUTE_NORMAL, NULL);
    if (h == INVALID_HANDLE_VALUE) {
        edr_log_api_error("CreateFileW(fixture)", GetLastError());
        return NULL;
    }
    LARGE_INTEGER sz;
    if (!GetFileSizeEx(h, &sz)) {
        edr_log_api_error("GetFileSizeEx(fixture)", GetLastError());
        CloseHandle(h);
        return NULL;
    }
    if (sz.QuadPart > (1LL << 30)) {
        edr_log("fixture: file is %lld bytes; the limit is 1 GiB", (long long)sz.QuadPart);
        CloseHandle(h);
        return NULL;
    }
    uint8_t *buf = malloc(sz.QuadPart ? (size_t)sz.QuadPart : 1);
    size_t got = 0;
    while (buf && got < (size_t)sz.QuadPart) {
        DWORD n = 0;
        DWORD want = (DWORD)((size_t)sz.QuadPart - got > (1u << 24) ? (1u << 24) : (size_t)sz.QuadPart - got);
        if (!ReadFile(h, buf + got, want, &n, NULL) || n == 0) {
            edr_log_api_error("ReadFile(fixture)", GetLastError());
            free(buf);
            buf = NULL;
            break;
        }
        got += n;
    }
    CloseHandle(h);
    *size = got;
    return buf;
}

int edr_fixture_run(const wchar_t *path)
{
    size_t size = 0, count = 0;
    uint8_t *data = read_whole_file(path, &size);
    if (!data) return -1;
    char err[256];
    if (edr_fixture_check(data, size, &count, err, sizeof err) != 0) {
        edr_log("fixture %ls: %s", path, err);
        free(data);
        return -1;
    }
    edr_log("fixture %ls: %u records, %llu bytes", path, (unsigned)count, (unsigned long long)size);
    size_t off = 0;
    while (off < size && !edr_stop_requested) {
        uint32_t len = edr_get32(data + off);
        uint8_t *p = data + off + 4;
        struct edr_etw_fields f;
        edr_etw_decode_header(p, &f);
        EVENT_RECORD r;
        memset(&r, 0, sizeof r);
        r.EventHeader.Size = sizeof(EVENT_HEADER);
        r.EventHeader.HeaderType = 0;
        r.EventHeader.Flags = f.flags;
        r.EventHeader.ThreadId = f.thread_id;
        r.EventHeader.ProcessId = f.process_id;
        r.EventHeader.TimeStamp.QuadPart = (LONGLONG)f.timestamp;
        memcpy(&r.EventHeader.ProviderId, f.provider_id, 16);
        r.EventHeader.EventDescriptor.Id = f.event_id;
        r.EventHeader.EventDescriptor.Version = f.version;
        r.EventHeader.EventDescriptor.Channel = f.channel;
        r.EventHeader.EventDescriptor.Level = f.level;
        r.EventHeader.EventDescriptor.Opcode = f.opcode;
        r.EventHeader.EventDescriptor.Task = f.task;
        r.EventHeader.EventDescriptor.Keyword = f.keyword;
        r.UserDataLength = f.user_data_length;
        r.UserData = f.user_data_length ? p + EDR_ETW_HEADER_SIZE : NULL;
        edr_sensor_on_event(&r);
        off += 4 + (size_t)len;
    }
    free(data);
    return 0;
}
