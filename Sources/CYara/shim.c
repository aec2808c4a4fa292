// CYara has only a header; this file keeps SwiftPM happy.
