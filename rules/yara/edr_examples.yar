/*
    Example rules for the EDR agent's on-exec YARA scan.
    Written for this project. Meta keys read by the agent:
      severity (low|medium|high|critical) or score (0-100), description, author, reference.
*/

rule EDR_Test_Marker : test
{
    meta:
        description = "Harmless marker string used by the agent's self-tests"
        author = "edr"
        severity = "low"
        score = 10
        self_test = true
    strings:
        $m = "EDR-YARA-SELFTEST-MARKER-5b1f0c"
    condition:
        $m
}

rule EDR_EICAR_Test_File : test antivirus
{
    meta:
        description = "EICAR anti-malware test file"
        severity = "medium"
        score = 50
    strings:
        $eicar = "X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
    condition:
        $eicar at 0 and filesize < 256
}

rule EDR_Linux_Shell_Reverse_Shell_Script : linux script
{
    meta:
        description = "Script spawning an interactive shell over a /dev/tcp socket or a named pipe"
        severity = "high"
        score = 75
    strings:
        $tcp1 = /(ba)?sh -i >& ?\/dev\/tcp\/[0-9a-zA-Z.\-]{1,255}\/[0-9]{1,5}/
        $tcp2 = /exec [0-9]+<>\/dev\/tcp\//
        $fifo = /mkfifo [^;]{1,64}; ?(cat|tail -f) [^|]{1,64}\| ?\/bin\/(ba)?sh -i/
        $nc = /nc(at)? (-[a-z]+ )*[0-9a-zA-Z.\-]{1,255} [0-9]{1,5} -e \/bin\/(ba)?sh/
    condition:
        filesize < 1MB and any of them
}

rule EDR_Linux_CoinMiner_XMRig : linux miner
{
    meta:
        description = "XMRig-family cryptocurrency miner binary or configuration"
        severity = "high"
        score = 70
    strings:
        $s1 = "stratum+tcp://" ascii
        $s2 = "\"donate-level\"" ascii
        $s3 = "xmrig" ascii nocase
        $s4 = "randomx" ascii nocase
        $s5 = "cryptonight" ascii nocase
    condition:
        $s1 and 2 of ($s2, $s3, $s4, $s5)
}

rule EDR_Linux_LD_PRELOAD_Persistence_Script : linux persistence
{
    meta:
        description = "Script that writes a library into /etc/ld.so.preload"
        severity = "critical"
        score = 85
    strings:
        $a = /echo [^\n]{1,200}>>? ?\/etc\/ld\.so\.preload/
        $b = /tee -a \/etc\/ld\.so\.preload/
    condition:
        filesize < 512KB and any of them
}

rule EDR_ELF_Packed_UPX : linux packer
{
    meta:
        description = "ELF binary packed with UPX (common for dropped Linux malware)"
        severity = "low"
        score = 30
    strings:
        $upx1 = "UPX!" ascii
        $upx2 = "$Info: This file is packed with the UPX executable packer" ascii
    condition:
        uint32(0) == 0x464c457f and any of them
}
