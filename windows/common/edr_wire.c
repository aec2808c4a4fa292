#include "edr_wire.h"

#include <stdio.h>
#include <string.h>

void edr_frame_header(uint8_t *out, uint8_t type, uint64_t sequence, size_t payload_len)
{
    edr_put32(out, (uint32_t)(EDR_HEADER_SIZE - 4 + payload_len));
    out[4] = type;
    out[5] = EDR_PROTOCOL_VERSION;
    edr_put16(out + 6, 0);
    edr_put64(out + 8, sequence);
}

static int known_type(uint8_t t)
{
    switch (t) {
    case 1: case 2: case 10: case 11: case 12: case 13: case 14: case 15: case 16: case 20: case 21:
        return 1;
    default:
        return 0;
    }
}

int edr_frame_parse_header(const uint8_t *buf, uint32_t max_frame, struct edr_frame_info *info, char *err, size_t err_len)
{
    uint32_t length = edr_get32(buf);
    if (length < EDR_HEADER_SIZE - 4) {
        snprintf(err, err_len, "frame length %u is shorter than a frame header", length);
        return -1;
    }
    if ((uint64_t)length + 4 > max_frame) {
        snprintf(err, err_len, "frame length %llu exceeds the maximum of %u", (unsigned long long)length + 4, max_frame);
        return -1;
    }
    if (buf[5] != EDR_PROTOCOL_VERSION) {
        snprintf(err, err_len, "unsupported protocol version %u (this build speaks %u)", buf[5], EDR_PROTOCOL_VERSION);
        return -1;
    }
    if (!known_type(buf[4])) {
        snprintf(err, err_len, "unknown frame type %u", buf[4]);
        return -1;
    }
    if (edr_get16(buf + 6) != 0) {
        snprintf(err, err_len, "reserved flags set (0x%x)", edr_get16(buf + 6));
        return -1;
    }
    info->length = length + 4;
    info->type = buf[4];
    info->sequence = edr_get64(buf + 8);
    int sequenced = info->type == EDR_FRAME_KERNEL_RECORD || info->type == EDR_FRAME_ETW_RECORD;
    if (!sequenced && info->sequence != 0) {
        snprintf(err, err_len, "type-%u frame must carry sequence 0, got %llu", info->type, (unsigned long long)info->sequence);
        return -1;
    }
    return 0;
}

void edr_hello_frame(uint8_t out[EDR_HELLO_FRAME_SIZE], uint16_t role, uint32_t pid, uint64_t next_sequence)
{
    edr_frame_header(out, EDR_FRAME_HELLO, 0, 24);
    uint8_t *p = out + EDR_HEADER_SIZE;
    edr_put32(p, EDR_MAGIC);
    edr_put16(p + 4, EDR_PROTOCOL_VERSION);
    edr_put16(p + 6, role);
    edr_put32(p + 8, pid);
    edr_put32(p + 12, 0);
    edr_put64(p + 16, next_sequence);
}

int edr_hello_parse(const uint8_t *p, size_t len, uint16_t *role, uint32_t *pid, uint64_t *next_sequence, char *err, size_t err_len)
{
    if (len != 24) {
        snprintf(err, err_len, "hello is %u bytes, expected 24", (unsigned)len);
        return -1;
    }
    if (edr_get32(p) != EDR_MAGIC) {
        snprintf(err, err_len, "bad magic in hello");
        return -1;
    }
    if (edr_get16(p + 4) != EDR_PROTOCOL_VERSION) {
        snprintf(err, err_len, "unsupported protocol version %u in hello", edr_get16(p + 4));
        return -1;
    }
    uint16_t r = edr_get16(p + 6);
    if (r < EDR_ROLE_SENSOR || r > EDR_ROLE_RESPONDER) {
        snprintf(err, err_len, "unknown role %u in hello", r);
        return -1;
    }
    *role = r;
    *pid = edr_get32(p + 8);
    *next_sequence = edr_get64(p + 16);
    return 0;
}

void edr_ack_frame(uint8_t out[EDR_ACK_FRAME_SIZE], uint64_t up_to)
{
    edr_frame_header(out, EDR_FRAME_ACK, 0, 8);
    edr_put64(out + EDR_HEADER_SIZE, up_to);
}

size_t edr_stats_frame(uint8_t *out, size_t cap, const struct edr_counter *c, size_t n)
{
    size_t len = EDR_HEADER_SIZE + 2;
    for (size_t i = 0; i < n; i++) {
        size_t nl = strlen(c[i].name);
        len += 1 + (nl > 255 ? 255 : nl) + 8;
    }
    if (len > cap || n > 0xffff) return 0;
    edr_frame_header(out, EDR_FRAME_SENSOR_STATS, 0, len - EDR_HEADER_SIZE);
    uint8_t *p = out + EDR_HEADER_SIZE;
    edr_put16(p, (uint16_t)n);
    p += 2;
    for (size_t i = 0; i < n; i++) {
        size_t nl = strlen(c[i].name);
        if (nl > 255) nl = 255;
        *p++ = (uint8_t)nl;
        memcpy(p, c[i].name, nl);
        p += nl;
        edr_put64(p, c[i].value);
        p += 8;
    }
    return len;
}

void edr_etw_encode_header(uint8_t out[EDR_ETW_HEADER_SIZE], const struct edr_etw_fields *f)
{
    memcpy(out + EDR_ETW_PROVIDER_ID, f->provider_id, 16);
    edr_put16(out + EDR_ETW_EVENT_ID, f->event_id);
    out[EDR_ETW_VERSION] = f->version;
    out[EDR_ETW_OPCODE] = f->opcode;
    out[EDR_ETW_LEVEL] = f->level;
    out[EDR_ETW_CHANNEL] = f->channel;
    edr_put16(out + EDR_ETW_TASK, f->task);
    edr_put64(out + EDR_ETW_KEYWORD, f->keyword);
    edr_put32(out + EDR_ETW_PROCESS_ID, f->process_id);
    edr_put32(out + EDR_ETW_THREAD_ID, f->thread_id);
    edr_put64(out + EDR_ETW_TIMESTAMP, f->timestamp);
    edr_put16(out + EDR_ETW_FLAGS, f->flags);
    edr_put16(out + EDR_ETW_USER_DATA_LENGTH, f->user_data_length);
    edr_put32(out + EDR_ETW_RESERVED, 0);
}

void edr_etw_decode_header(const uint8_t in[EDR_ETW_HEADER_SIZE], struct edr_etw_fields *f)
{
    memcpy(f->provider_id, in + EDR_ETW_PROVIDER_ID, 16);
    f->event_id = edr_get16(in + EDR_ETW_EVENT_ID);
    f->version = in[EDR_ETW_VERSION];
    f->opcode = in[EDR_ETW_OPCODE];
    f->level = in[EDR_ETW_LEVEL];
    f->channel = in[EDR_ETW_CHANNEL];
    f->task = edr_get16(in + EDR_ETW_TASK);
    f->keyword = edr_get64(in + EDR_ETW_KEYWORD);
    f->process_id = edr_get32(in + EDR_ETW_PROCESS_ID);
    f->thread_id = edr_get32(in + EDR_ETW_THREAD_ID);
    f->timestamp = edr_get64(in + EDR_ETW_TIMESTAMP);
    f->flags = edr_get16(in + EDR_ETW_FLAGS);
    f->user_data_length = edr_get16(in + EDR_ETW_USER_DATA_LENGTH);
}
