#ifdef __linux__
#include "CCap.h"
#include <ctype.h>
#include <string.h>

char *edr_cap_name(int cap) { return cap_to_name((cap_value_t)cap); }
void edr_cap_free(void *p) { cap_free(p); }
#endif
