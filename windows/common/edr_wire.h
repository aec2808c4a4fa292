/* The wire protocol of Sources/EDRCore/Wire.swift, byte for byte, for the Windows programs.
 *
 *     offset  size  field
 *     0       4     length of everything after this field (little-endian)
 *     4       1     frame type
 *     5       1     protocol version (1)
 *     6       2     flags (0)
 *     8       8     sequence number (data frames 1, 2, 3 ...; control frames 0)
 *     16      n     payload
 *
 * All integers little-endian, written byte by byte so the code does not depend on the host. */
#ifndef EDR_WIRE_H
#define EDR_WIRE_H

#include <stddef.h>
#include <stdint.h>

#define EDR_PROTOCOL_VERSION 1
#define EDR_HEADER_SIZE 16
#define EDR_MAX_FRAME_SIZE (1u << 20)
#define EDR_MAGIC 0x45445231u /* "EDR1" */

enum edr_frame_type {
    EDR_FRAME_HELLO = 1,
    EDR_FRAME_ACK = 2,
    EDR_FRAME_KERNEL_RECORD = 10,
    EDR_FRAME_PROC_SNAPSHOT = 11,
    EDR_FRAME_SNAPSHOT_DONE = 12,
    EDR_FRAME_SENSOR_STATS = 13,
    EDR_FRAME_EXECUTABLE_FILE = 14,
    EDR_FRAME_FORGET_EXECUTABLES = 15,
    EDR_FRAME_ETW_RECORD = 16,
    EDR_FRAME_LOG_RECORD = 17,  /* Linux: edr-logs to the detector; no Windows program sends it */
    EDR_FRAME_RESPONSE_REQUEST = 20,
    EDR_FRAME_RESPONSE_RESULT = 21,
};

enum edr_role { EDR_ROLE_SENSOR = 1, EDR_ROLE_DETECTOR = 2, EDR_ROLE_RESPONDER = 3, EDR_ROLE_LOGS = 4 };

/* ETWRecordLayout: the payload of an etwRecord frame. */
#define EDR_ETW_HEADER_SIZE 56
#define EDR_ETW_PROVIDER_ID 0
#define EDR_ETW_EVENT_ID 16
#define EDR_ETW_VERSION 18
#define EDR_ETW_OPCODE 19
#define EDR_ETW_LEVEL 20
#define EDR_ETW_CHANNEL 21
#define EDR_ETW_TASK 22
#define EDR_ETW_KEYWORD 24
#define EDR_ETW_PROCESS_ID 32
#define EDR_ETW_THREAD_ID 36
#define EDR_ETW_TIMESTAMP 40
#define EDR_ETW_FLAGS 48
#define EDR_ETW_USER_DATA_LENGTH 50
#define EDR_ETW_RESERVED 52
#define EDR_ETW_FLAG_32_BIT_HEADER 0x20

/* The EVENT_HEADER fields an etwRecord carries, independent of <evntcons.h> so the codec
 * builds and is tested anywhere. */
struct edr_etw_fields {
    uint8_t provider_id[16]; /* GUID in Windows' in-memory order */
    uint16_t event_id;
    uint8_t version, opcode, level, channel;
    uint16_t task;
    uint64_t keyword;
    uint32_t process_id, thread_id;
    uint64_t timestamp; /* FILETIME */
    uint16_t flags;
    uint16_t user_data_length;
};

static inline void edr_put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static inline void edr_put32(uint8_t *p, uint32_t v) { for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i)); }
static inline void edr_put64(uint8_t *p, uint64_t v) { for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i)); }
static inline uint16_t edr_get16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }
static inline uint32_t edr_get32(const uint8_t *p) { return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24); }
static inline uint64_t edr_get64(const uint8_t *p) { return (uint64_t)edr_get32(p) | ((uint64_t)edr_get32(p + 4) << 32); }

/* Writes a frame header for a payload of `payload_len` bytes at `out` (16 bytes). */
void edr_frame_header(uint8_t *out, uint8_t type, uint64_t sequence, size_t payload_len);

/* A decoded frame header. */
struct edr_frame_info {
    uint32_t length; /* whole frame, header included */
    uint8_t type;
    uint64_t sequence;
};

/* Checks the header at `buf` (at least 16 bytes available) the way FrameDecoder does:
 * 0 and `info` filled, or -1 and a reason in `err`. */
int edr_frame_parse_header(const uint8_t *buf, uint32_t max_frame, struct edr_frame_info *info, char *err, size_t err_len);

/* hello payload: magic u32, version u16, role u16, pid u32, reserved u32, next sequence u64. */
#define EDR_HELLO_FRAME_SIZE (EDR_HEADER_SIZE + 24)
void edr_hello_frame(uint8_t out[EDR_HELLO_FRAME_SIZE], uint16_t role, uint32_t pid, uint64_t next_sequence);
int edr_hello_parse(const uint8_t *payload, size_t len, uint16_t *role, uint32_t *pid, uint64_t *next_sequence, char *err, size_t err_len);

#define EDR_ACK_FRAME_SIZE (EDR_HEADER_SIZE + 8)
void edr_ack_frame(uint8_t out[EDR_ACK_FRAME_SIZE], uint64_t up_to);

/* sensorStats: u16 count, then per entry u8 name length, name, u64 value. Returns the frame
 * size written to `out` (at most `cap`), 0 if it does not fit. */
struct edr_counter { const char *name; uint64_t value; };
size_t edr_stats_frame(uint8_t *out, size_t cap, const struct edr_counter *c, size_t n);

/* etwRecord payload header (56 bytes); the user data follows it. */
void edr_etw_encode_header(uint8_t out[EDR_ETW_HEADER_SIZE], const struct edr_etw_fields *f);
void edr_etw_decode_header(const uint8_t in[EDR_ETW_HEADER_SIZE], struct edr_etw_fields *f);

#endif
