"""Real CMPP PDU byte vectors collected from other implementations' test suites.

Plain data only: the bytes (facts) and the values each source test itself asserts or builds
the PDU from; no code was copied. Sources are the stored copies of bigwhite/gocmpp,
Lihuanghe/SMSGate and yedamao/go_cmpp (reference /work/shared/cmpp-protocol.md §0).

``VECTORS`` -- complete PDUs, 12-byte header included::

    {"id": str, "source": str, "version": "2.0" | "3.0", "hex": str, "expect": dict}

* ``version`` is the version the source test runs the codec in; for the version-neutral
  PDUs (CONNECT, ACTIVE_TEST(_RESP), TERMINATE(_RESP)) it is "2.0" and the same bytes are
  valid in 3.0.
* ``expect`` holds header fields (Total_Length, Command_Id, Sequence_Id) and only those body
  fields that the source asserts or constructs the PDU from. Field names are those of the
  reference §5; octet strings are ``bytes`` without NUL padding, repeated fields are lists,
  Msg_Content is ``bytes``. Fields of a status report carried in Msg_Content go in a nested
  ``"report"`` dict (reference §5.7 names). Captured PDUs whose tests assert only a
  byte-exact decode/encode round trip carry the header fields only.
* Every ``hex`` satisfies Total_Length == len(bytes.fromhex(hex)) and the length formulas of
  reference §6 for its version.

``REPORT_VECTORS`` -- status-report structures (DELIVER Msg_Content only, no PDU around
them), same keys; ``expect`` uses the §5.7 names.

``LONG_SMS_VECTORS`` -- multi-part messages whose source asserts the reassembled text.

``AUTH_VECTORS`` -- authenticator inputs/outputs (only gocmpp has any; it is the §7.2 one).

``DEVIATION_VECTORS`` -- not collected: PDUs written here from the descriptions of real
traffic in reference §11 (D13, D21, D22, D24, D25), with the values and the finding codes the
analyzer owes them. ``stream`` vectors are bytes as a sender wrote them on the TCP stream
(``pdus``: the lengths the framer must cut, ``skipped``: the stray bytes between them).
"""

VECTORS = [
    {
        "id": "gocmpp-connect",
        "source": (
            "bigwhite/gocmpp packet/connect_test.go TestCmppConnReqPkt* (commit 064b64df16b5); "
            "version-neutral PDU, Version byte 0x21 (gocmpp V21)"
        ),
        "version": "2.0",
        "hex": (
            "00000027000000010000001739303030303190d00c1d517abd0b4f65f6bcf8535d16213cdc73be"
        ),
        "expect": {
            "Total_Length": 39, "Command_Id": 0x00000001, "Sequence_Id": 23,
            "Source_Addr": b"900001",
            "AuthenticatorSource": (
                b"\x90\xd0\x0c\x1d\x51\x7a\xbd\x0b"
                b"\x4f\x65\xf6\xbc\xf8\x53\x5d\x16"
            ),
            "Version": 0x21,
            "Timestamp": 1021080510,
        },
    },
    {
        "id": "gocmpp-connect-resp-v20",
        "source": (
            "bigwhite/gocmpp packet/connect_test.go TestCmpp2ConnRsp* (commit 064b64df16b5)"
        ),
        "version": "2.0",
        "hex": (
            "0000001e8000000100000017006c0b846e25bab6daa4ed1c466e0f4bd821"
        ),
        "expect": {
            "Total_Length": 30, "Command_Id": 0x80000001, "Sequence_Id": 23,
            "Status": 0,
            "AuthenticatorISMG": (
                b"\x6c\x0b\x84\x6e\x25\xba\xb6\xda"
                b"\xa4\xed\x1c\x46\x6e\x0f\x4b\xd8"
            ),
            "Version": 0x21,
        },
    },
    {
        "id": "gocmpp-connect-resp-v30",
        "source": (
            "bigwhite/gocmpp packet/connect_test.go TestCmpp3ConnRsp* (commit 064b64df16b5)"
        ),
        "version": "3.0",
        "hex": (
            "000000218000000100000017000000007942977274098cf210ab0c16c367bc8d30"
        ),
        "expect": {
            "Total_Length": 33, "Command_Id": 0x80000001, "Sequence_Id": 23,
            "Status": 0,
            "AuthenticatorISMG": (
                b"\x79\x42\x97\x72\x74\x09\x8c\xf2"
                b"\x10\xab\x0c\x16\xc3\x67\xbc\x8d"
            ),
            "Version": 0x30,
        },
    },
    {
        "id": "gocmpp-submit-v20",
        "source": (
            "bigwhite/gocmpp packet/submit_test.go TestCmpp2SubmitReqPkt* (commit 14b80c97d376)"
        ),
        "version": "2.0",
        "hex": (
            "000000bd00000004000000170000000000000000010101017465737400000000000002313335303030"
            "3032363936000000000000000000000000083930303030313032313000000000313531313035313331"
            "3535353130312b00000000000000000000000000000000000039303030303100000000000000000000"
            "0000000000013133353030303032363936000000000000000000001e6d4b8bd50067006f0063006d00"
            "7000700020007300750062006d006900740000000000000000"
        ),
        "expect": {
            "Total_Length": 189, "Command_Id": 0x00000004, "Sequence_Id": 23,
            "Pk_total": 1,
            "Pk_number": 1,
            "Registered_Delivery": 1,
            "Msg_level": 1,
            "Service_Id": b"test",
            "Fee_UserType": 2,
            "Fee_terminal_Id": b"13500002696",
            "Msg_Fmt": 8,
            "Msg_src": b"900001",
            "FeeType": b"02",
            "FeeCode": b"10",
            "ValId_Time": b"151105131555101+",
            "At_Time": b"",
            "Src_Id": b"900001",
            "DestUsr_tl": 1,
            "Dest_terminal_Id": [b"13500002696"],
            "Msg_Length": 30,
            # UCS2 "测试gocmpp submit"
            "Msg_Content": (
                b"mK\x8b\xd5\x00g\x00o\x00c\x00m\x00p\x00p\x00 "
                b"\x00s\x00u\x00b\x00m\x00i\x00t"
            ),
        },
    },
    {
        "id": "gocmpp-submit-v30",
        "source": (
            "bigwhite/gocmpp packet/submit_test.go TestCmpp3SubmitReqPkt* (commit 14b80c97d376)"
        ),
        "version": "3.0",
        "hex": (
            "000000e100000004000000170000000000000000010101017465737400000000000002313335303030"
            "3032363936000000000000000000000000000000000000000000000000083930303030313032313000"
            "0000003135313130353133313535353130312b00000000000000000000000000000000000039303030"
            "3031000000000000000000000000000000013133353030303032363936000000000000000000000000"
            "000000000000000000001e6d4b8bd50067006f0063006d007000700020007300750062006d00690074"
            "0000000000000000000000000000000000000000"
        ),
        "expect": {
            "Total_Length": 225, "Command_Id": 0x00000004, "Sequence_Id": 23,
            "Pk_total": 1,
            "Pk_number": 1,
            "Registered_Delivery": 1,
            "Msg_level": 1,
            "Service_Id": b"test",
            "Fee_UserType": 2,
            "Fee_terminal_Id": b"13500002696",
            "Fee_terminal_type": 0,
            "Msg_Fmt": 8,
            "Msg_src": b"900001",
            "FeeType": b"02",
            "FeeCode": b"10",
            "ValId_Time": b"151105131555101+",
            "At_Time": b"",
            "Src_Id": b"900001",
            "DestUsr_tl": 1,
            "Dest_terminal_Id": [b"13500002696"],
            "Dest_terminal_type": 0,
            "Msg_Length": 30,
            # UCS2 "测试gocmpp submit"
            "Msg_Content": (
                b"mK\x8b\xd5\x00g\x00o\x00c\x00m\x00p\x00p\x00 "
                b"\x00s\x00u\x00b\x00m\x00i\x00t"
            ),
            "LinkID": b"",
        },
    },
    {
        "id": "gocmpp-submit-resp-v20",
        "source": (
            "bigwhite/gocmpp packet/submit_test.go TestCmpp2SubmitRspPkt* (commit 14b80c97d376)"
        ),
        "version": "2.0",
        "hex": (
            "000000158000000400000017b2b9da800001000000"
        ),
        "expect": {
            "Total_Length": 21, "Command_Id": 0x80000004, "Sequence_Id": 23,
            "Msg_Id": 0xB2B9DA8000010000,
            "Result": 0,
        },
    },
    {
        "id": "gocmpp-submit-resp-v30",
        "source": (
            "bigwhite/gocmpp packet/submit_test.go TestCmpp3SubmitRspPkt* (commit 14b80c97d376)"
        ),
        "version": "3.0",
        "hex": (
            "000000188000000400000017b2b9da800001000000000000"
        ),
        "expect": {
            "Total_Length": 24, "Command_Id": 0x80000004, "Sequence_Id": 23,
            "Msg_Id": 0xB2B9DA8000010000,
            "Result": 0,
        },
    },
    {
        "id": "gocmpp-deliver-v20",
        "source": (
            "bigwhite/gocmpp deliver_test.go TestCmpp2DeliverReqPkt* (commit 396bbe800210)"
        ),
        "version": "2.0",
        "hex": (
            "000000670000000500000005b525628000010000393030303031000000000000000000000000000000"
            "0000000000000000000000000031333431323334303030300000000000000000000000125468697320"
            "697320612074657374204d4f2e0000000000000000"
        ),
        "expect": {
            "Total_Length": 103, "Command_Id": 0x00000005, "Sequence_Id": 5,
            "Msg_Id": 0xB525628000010000,
            "Dest_Id": b"900001",
            "Service_Id": b"",
            "TP_pid": 0,
            "TP_udhi": 0,
            "Msg_Fmt": 0,
            "Src_terminal_Id": b"13412340000",
            "Registered_Delivery": 0,
            "Msg_Length": 18,
            "Msg_Content": b"This is a test MO.",
        },
    },
    {
        "id": "gocmpp-deliver-resp-v20",
        "source": (
            "bigwhite/gocmpp deliver_test.go TestCmpp2DeliverRspPkt* (commit 396bbe800210)"
        ),
        "version": "2.0",
        "hex": (
            "000000158000000500000005b52562800001000000"
        ),
        "expect": {
            "Total_Length": 21, "Command_Id": 0x80000005, "Sequence_Id": 5,
            "Msg_Id": 0xB525628000010000,
            "Result": 0,
        },
    },
    {
        "id": "gocmpp-deliver-v30",
        "source": (
            "bigwhite/gocmpp packet/deliver_test.go TestCmpp3DeliverReqPkt* (commit 8bcb6d845533)"
        ),
        "version": "3.0",
        "hex": (
            "0000007f0000000500000001b4c5530000010000393030303031000000000000000000000000000000"
            "0000000000000000000000000031333431323334303030300000000000000000000000000000000000"
            "000000000000125468697320697320612074657374204d4f2e00000000000000000000000000000000"
            "00000000"
        ),
        "expect": {
            "Total_Length": 127, "Command_Id": 0x00000005, "Sequence_Id": 1,
            "Msg_Id": 0xB4C5530000010000,
            "Dest_Id": b"900001",
            "Service_Id": b"",
            "TP_pid": 0,
            "TP_udhi": 0,
            "Msg_Fmt": 0,
            "Src_terminal_Id": b"13412340000",
            "Src_terminal_type": 0,
            "Registered_Delivery": 0,
            "Msg_Length": 18,
            "Msg_Content": b"This is a test MO.",
            "LinkID": b"",
        },
    },
    {
        "id": "gocmpp-deliver-resp-v30",
        "source": (
            "bigwhite/gocmpp packet/deliver_test.go TestCmpp3DeliverRspPkt* (commit 8bcb6d845533)"
        ),
        "version": "3.0",
        "hex": (
            "000000188000000500000001b4c553000001000000000000"
        ),
        "expect": {
            "Total_Length": 24, "Command_Id": 0x80000005, "Sequence_Id": 1,
            "Msg_Id": 0xB4C5530000010000,
            "Result": 0,
        },
    },
    {
        "id": "gocmpp-fwd-v20",
        "source": (
            "bigwhite/gocmpp packet/fwd_test.go TestCmpp2FwdReqPkt* (commit 277f05cf0aa7)"
        ),
        "version": "2.0",
        "hex": (
            "000000c500000009000000173130303230313131313131320000000000000000000001010001746573"
            "7400000000000002313335303030303236393600000000000000000000000008333231333231303231"
            "30000000003135313131353133313535353130312b0000000000000000000000000000000000003939"
            "3939383838380000000000000000000000000001313335303030303236393600000000000000000000"
            "186d4b8bd50067006f0063006d0070007000200066007700640000000000000000"
        ),
        "expect": {
            "Total_Length": 197, "Command_Id": 0x00000009, "Sequence_Id": 23,
            "Source_Id": b"100201",
            "Destination_Id": b"111112",
            "NodesCount": 0,
            "Msg_Fwd_Type": 0,
            "Msg_Id": 0,
            "Pk_total": 1,
            "Pk_number": 1,
            "Registered_Delivery": 0,
            "Msg_level": 1,
            "Service_Id": b"test",
            "Fee_UserType": 2,
            "Fee_terminal_Id": b"13500002696",
            "Msg_Fmt": 8,
            "Msg_src": b"321321",
            "FeeType": b"02",
            "FeeCode": b"10",
            "Valid_Time": b"151115131555101+",
            "At_Time": b"",
            "Src_Id": b"99998888",
            "DestUsr_tl": 1,
            "Dest_Id": [b"13500002696"],
            "Msg_Length": 24,
            # UCS2 "测试gocmpp fwd"
            "Msg_Content": (
                b"mK\x8b\xd5\x00g\x00o\x00c\x00m\x00p\x00p\x00 "
                b"\x00f\x00w\x00d"
            ),
        },
    },
    {
        "id": "gocmpp-fwd-v30",
        "source": (
            "bigwhite/gocmpp packet/fwd_test.go TestCmpp3FwdReqPkt* (commit 277f05cf0aa7)"
        ),
        "version": "3.0",
        "hex": (
            "0000013500000009000000173130303230313131313131320000000000000000000101010001746573"
            "7400000000000002313335303030303236393600000000000000000000000000000000000000000000"
            "0000000000000000000000000000000000000000000000083332313332313032313000000000313531"
            "3131353133313535353130312b00000000000000000000000000000000000039393939383838380000"
            "0000000000000000000000000000000000000000000000000000000000000000000000000000000000"
            "0000000001313335303030303236393600000000000000000000000000000000000000000000000000"
            "000000000000000000000000000000000000186d4b8bd50067006f0063006d00700070002000660077"
            "00640000000000000000000000000000000000000000"
        ),
        "expect": {
            "Total_Length": 309, "Command_Id": 0x00000009, "Sequence_Id": 23,
            "Source_Id": b"100201",
            "Destination_Id": b"111112",
            "NodesCount": 0,
            "Msg_Fwd_Type": 0,
            "Msg_Id": 1,
            "Pk_total": 1,
            "Pk_number": 1,
            "Registered_Delivery": 0,
            "Msg_level": 1,
            "Service_Id": b"test",
            "Fee_UserType": 2,
            "Fee_terminal_Id": b"13500002696",
            "Fee_terminal_UserType": 0,
            "Msg_Fmt": 8,
            "Msg_src": b"321321",
            "FeeType": b"02",
            "FeeCode": b"10",
            "Valid_Time": b"151115131555101+",
            "At_Time": b"",
            "Src_Id": b"99998888",
            "Src_UserType": 0,
            "Src_type": 0,
            "DestUsr_tl": 1,
            "Dest_Id": [b"13500002696"],
            "Dest_UserType": 0,
            "Msg_Length": 24,
            # UCS2 "测试gocmpp fwd"
            "Msg_Content": (
                b"mK\x8b\xd5\x00g\x00o\x00c\x00m\x00p\x00p\x00 "
                b"\x00f\x00w\x00d"
            ),
        },
    },
    {
        "id": "gocmpp-fwd-resp-v20",
        "source": (
            "bigwhite/gocmpp packet/fwd_test.go TestCmpp2FwdRspPkt* (commit 277f05cf0aa7)"
        ),
        "version": "2.0",
        "hex": (
            "000000178000000900000017b2b9da8000010000010100"
        ),
        "expect": {
            "Total_Length": 23, "Command_Id": 0x80000009, "Sequence_Id": 23,
            "Msg_Id": 0xB2B9DA8000010000,
            "Pk_total": 1,
            "Pk_number": 1,
            "Result": 0,
        },
    },
    {
        "id": "gocmpp-fwd-resp-v30",
        "source": (
            "bigwhite/gocmpp packet/fwd_test.go TestCmpp3FwdRspPkt* (commit 277f05cf0aa7)"
        ),
        "version": "3.0",
        "hex": (
            "0000001a8000000900000017b2b9da8000010000010100000001"
        ),
        "expect": {
            "Total_Length": 26, "Command_Id": 0x80000009, "Sequence_Id": 23,
            "Msg_Id": 0xB2B9DA8000010000,
            "Pk_total": 1,
            "Pk_number": 1,
            "Result": 1,
        },
    },
    {
        "id": "gocmpp-active-test",
        "source": (
            "bigwhite/gocmpp packet/activetest_test.go TestCmppActiveTestReq* (commit "
            "a879c78d534b); version-neutral PDU"
        ),
        "version": "2.0",
        "hex": (
            "0000000c0000000800000017"
        ),
        "expect": {
            "Total_Length": 12, "Command_Id": 0x00000008, "Sequence_Id": 23,
        },
    },
    {
        "id": "gocmpp-active-test-resp",
        "source": (
            "bigwhite/gocmpp packet/activetest_test.go TestCmppActiveTestRsp* (commit "
            "a879c78d534b); version-neutral PDU"
        ),
        "version": "2.0",
        "hex": (
            "0000000d800000080000001700"
        ),
        "expect": {
            "Total_Length": 13, "Command_Id": 0x80000008, "Sequence_Id": 23,
        },
    },
    {
        "id": "gocmpp-terminate",
        "source": (
            "bigwhite/gocmpp packet/terminate_test.go TestCmppTerminateReq* (commit "
            "00bb1e08b5ff); version-neutral PDU"
        ),
        "version": "2.0",
        "hex": (
            "0000000c0000000200000017"
        ),
        "expect": {
            "Total_Length": 12, "Command_Id": 0x00000002, "Sequence_Id": 23,
        },
    },
    {
        "id": "gocmpp-terminate-resp",
        "source": (
            "bigwhite/gocmpp packet/terminate_test.go TestCmppTerminateRsp* (commit "
            "00bb1e08b5ff); version-neutral PDU"
        ),
        "version": "2.0",
        "hex": (
            "0000000c8000000200000017"
        ),
        "expect": {
            "Total_Length": 12, "Command_Id": 0x80000002, "Sequence_Id": 23,
        },
    },
    {
        "id": "smsgate-deliver-v30-report71-af4",
        "source": (
            "Lihuanghe/SMSGate "
            "src/test/java/com/zx/sms/codec/cmpp/TestMsgErrDeliverRequestDecoder.java testDecode "
            "(commit 6c6182dc2981), getVersion 0x30; body-only in the source; header prepended "
            "exactly as the test does (Total_Length = 12 + len(body), CMPP_DELIVER, Sequence_Id "
            "0); the test asserts only a byte-exact decode/encode round trip"
        ),
        "version": "3.0",
        "hex": (
            "000000b40000000500000000522a4980002aa6ce313030383531303100000000000000000000000000"
            "636d63637a785f736d7300000031333539323236313739310000000000000000000000000000000000"
            "00000000000147522a4980002aa6cd41463a3400000030303031303130303030303030313031303030"
            "3031333539323236313739310000000000000000000000000000000000000000000000000000000000"
            "00000000000000000000000000000000"
        ),
        "expect": {
            "Total_Length": 180, "Command_Id": 0x00000005, "Sequence_Id": 0,
        },
    },
    {
        "id": "smsgate-deliver-v30-report60",
        "source": (
            "Lihuanghe/SMSGate "
            "src/test/java/com/zx/sms/codec/cmpp/TestMsgErrDeliverRequestDecoder.java testReport "
            "(commit 6c6182dc2981), getVersion 0x30; body-only in the source; header prepended "
            "exactly as the test does (Total_Length = 12 + len(body), CMPP_DELIVER, Sequence_Id "
            "12345678); a 3.0 DELIVER carrying a 60-byte (2.0-size) report (D3)"
        ),
        "version": "3.0",
        "hex": (
            "000000a90000000500bc614ec2cf84f10ce0003f313030383639383831303038363938383130303836"
            "0000000000000000000000000f31383730333831353635353138373033383135363535313837303338"
            "3135363500013cc2cf8400a37359d844454c4956524432323132303531393536323231323035313935"
            "36313030383639383800000000000000000000000000000000ff303030303030303030303030303132"
            "3334353600"
        ),
        "expect": {
            "Total_Length": 169, "Command_Id": 0x00000005, "Sequence_Id": 12345678,
            "Registered_Delivery": 1,
            "LinkID": b"0000000000000123456",
            "report": {"SMSC_sequence": 255},
        },
    },
    {
        "id": "smsgate-deliver-v30-udh-ucs2",
        "source": (
            "Lihuanghe/SMSGate "
            "src/test/java/com/zx/sms/codec/cmpp/TestMesnegativeArrayDecoder.java (commit "
            "6c6182dc2981), getVersion 0x30; body-only in the source; header prepended exactly as "
            "the test does (Total_Length = 12 + len(body), CMPP_DELIVER, Sequence_Id 0); round "
            "trip only. Captured MO whose UDH 05 00 03 02 B9 A2 claims part 162 of 185"
        ),
        "version": "3.0",
        "hex": (
            "000000f900000005000000007e5da8814c7567ae313030383500000000000000000000000000000000"
            "4d434e3232313031303300010838363135313231363236393634000000000000000000000000000000"
            "0000000000008c05000302b9a2653b51fb4e0bff0c80015e08518d4e006b2176845c48670d4e863002"
            "0020300030005e9480015e08768472316db253c84e006b216709598255b76cc94e00822c6d8c51faff"
            "0c968f845780015e088fd96b2176849ad86f6eff0c621176845fcd80104e5f8fbe52304e8667819650"
            "ff0c4e0d4e454e4857289f9f59344e0a611f52305f025e380000000000000000000000000000000000"
            "000000"
        ),
        "expect": {
            "Total_Length": 249, "Command_Id": 0x00000005, "Sequence_Id": 0,
        },
    },
    {
        "id": "smsgate-deliver-v30-wap-push-f5",
        "source": (
            "Lihuanghe/SMSGate "
            "src/test/java/com/zx/sms/codec/cmpp/TestMsgErrDeliverRequestDecoder.java, vector "
            "present but commented out (commit 6c6182dc2981), class getVersion 0x30; body-only in "
            "the source; header prepended exactly as the test does (Total_Length = 12 + "
            "len(body), CMPP_DELIVER, Sequence_Id 0); nothing asserted. Msg_Fmt 0xF5, TP_udhi 1, "
            "port-addressing UDH (WAP push)"
        ),
        "version": "3.0",
        "hex": (
            "000000dd00000005000000003341ab414c75dc5f313030383500000000000000000000000000000000"
            "4d434e323231303130330001f538363134373836313930373239000000000000000000000000000000"
            "00000000000070060504c34f000001062d1f2b6170706c69636174696f6e2f782d7761702d70726f76"
            "2e62726f777365722d626f6f6b6d61726b730081ea00010045c67f0187151103000187171103687474"
            "703a2f2f7777772e31303038352e636e2f77656238352f68352f48352e68746d6c0001010100000000"
            "00000000000000000000000000000000"
        ),
        "expect": {
            "Total_Length": 221, "Command_Id": 0x00000005, "Sequence_Id": 0,
        },
    },
    {
        "id": "smsgate-deliver-v30-udhi40",
        "source": (
            "Lihuanghe/SMSGate "
            "src/test/java/com/zx/sms/codec/cmpp/TestMsgErrDeliverRequestDecoder.java, vector "
            "present but commented out (commit 6c6182dc2981), class getVersion 0x30; body-only in "
            "the source; header prepended exactly as the test does (Total_Length = 12 + "
            "len(body), CMPP_DELIVER, Sequence_Id 0); nothing asserted. TP_udhi = 0x40 with a "
            "6-byte concatenation UDH (D5)"
        ),
        "version": "3.0",
        "hex": (
            "000000f1000000050000000038a40100533e03d3313030383500000000000000000000000000000000"
            "4d434e3232313031303300400838363133383137333038383333000000000000000000000000000000"
            "0000000000008405000300010167098fc74e0d53bb76847ecf5386ff0c53ea67098d704e0d51fa7684"
            "81ea5df1ff01603b662f62c55fc38eab8fb94f1a593153bb8c01ff0c53ef621153745fd84e8695eeff"
            "0c53c867098c014f1a5bb36015593153bb6211ff1f4eba751fff0c52aa529b4e86300173cd60dc4e86"
            "300195ee5fc365e061275c31597dff010000000000000000000000000000000000000000"
        ),
        "expect": {
            "Total_Length": 241, "Command_Id": 0x00000005, "Sequence_Id": 0,
        },
    },
    {
        "id": "smsgate-deliver-v20-mo-1byte",
        "source": (
            "Lihuanghe/SMSGate "
            "src/test/java/com/zx/sms/codec/cmpp/TestMsgDataDeliverRequestDecoder.java (commit "
            "52fae30ad5c6), getVersion 0x20; complete PDU captured from a live 10085 gateway; "
            "asserts a byte-exact round trip"
        ),
        "version": "2.0",
        "hex": (
            "00000056000000050a27a5157fd913c12d34b9c9313030383500000000000000000000000000000000"
            "4d434e3232313031303100000038363138373735363438313431000000000000000000017200000000"
            "00000000"
        ),
        "expect": {
            "Total_Length": 86, "Command_Id": 0x00000005, "Sequence_Id": 170370325,
        },
    },
    {
        "id": "smsgate-deliver-v20-udhi-binary",
        "source": (
            "Lihuanghe/SMSGate "
            "src/test/java/com/zx/sms/codec/cmpp/TestMsgErrUDHIDeliverRequestDecoder.java (commit "
            "6c6182dc2981), getVersion 0x20; complete captured PDU; decode only (its assertions "
            "are commented out). Msg_Fmt 4, UDH 0B 00 03 BA 01 01 05 04 15 8A 00 00"
        ),
        "version": "2.0",
        "hex": (
            "000000e10000000502217aec85cce8c091520007313030383500000000000000000000000000000000"
            "4d434e32323130313031000104383631353133373832333332380000000000000000008c0b0003ba01"
            "010504158a00000802180807caa000201804180c07c550001000083c0087c2a8001080083c0107c154"
            "000840103c0e07c0aa000438203e000f8155000200401f001f00aa000181801fe0e0005500027e4022"
            "1f18002a001c4430413896001500f8ba3e4946a1800a03fcba7fc9834e401507febaffaa9291200a0f"
            "ff93fc5493a090051fffbbf80000000000000000"
        ),
        "expect": {
            "Total_Length": 225, "Command_Id": 0x00000005, "Sequence_Id": 35748588,
        },
    },
    {
        "id": "smsgate-submit-v20-sim-write-card",
        "source": (
            "Lihuanghe/SMSGate "
            "src/test/java/com/zx/sms/codec/cmpp/TestRemoteWriteCardSubmitMsg.java (commit "
            "6c6182dc2981), no getVersion override; complete PDU; asserts a byte-exact round "
            "trip. Decodes only with the 2.0 layout (TP_pId 0x7F, Msg_Fmt 0xF6)"
        ),
        "version": "2.0",
        "hex": (
            "0000012400000004000031b0000000000000000001010101574c574b5a584b00000002000000000000"
            "0000000000000000000000000000007f01f63337303135303031300000000000000000000000000000"
            "0000000000000000000000000000000000000000000000000031303634383939333730313530000000"
            "0000000000013138343932323038303035000000000000000000008502700000801116390505b000b0"
            "9744ab428232ea9bf25d353f9acdef5c66ceb36c8366a9d4d86ec6197c530e184819e1fe7f6d3331dd"
            "f160ad64073cb8765eaa183f561c6582562d4390210cf8dde999bfa47ec52406a51b090c3f9700c14e"
            "dc4fa621d6f09cc0970d189fb63b88d16d22b15bb30c2892ea6a5fa07eb69d85e23b2e69be69000000"
            "0000000000"
        ),
        "expect": {
            "Total_Length": 292, "Command_Id": 0x00000004, "Sequence_Id": 12720,
        },
    },
    {
        "id": "smsgate-submit-v20-10085-part1",
        "source": (
            "Lihuanghe/SMSGate "
            "src/test/java/com/zx/sms/codec/cmpp/Test10085MsgDataSubmitRequestDecoder.java "
            "(commit 1cf24d9ac4a4), getVersion 0x20; first of the 3 PDUs in the test's byte "
            "stream (live 10085 capture); decode only. Pk_total/Pk_number 1/1 although the UDH "
            "says part 1 of 3 (D15)"
        ),
        "version": "2.0",
        "hex": (
            "0000012b00000004007ce0440000000000000000010100000000000000000000000000000000000000"
            "0000000000000000000000000000000001083430303433373031000000000000000000000000000000"
            "0000000000000000000000000000000000000000000000000031303038350000000000000000000000"
            "0000000000013138313634383335363837000000000000000000008c0500032e0301201c002375af72"
            "c25927964d4ef7ff0c65b054c162a24e0d505c201d00405c0f7c73795e673a60ca559c4e0d65ad3001"
            "004091776d3e5927795e56fd6c1100340047795e566875af72c2964d4ef7300100409b4584dd004e00"
            "4f00540045003265b054c15e2656de5bb6ff0c5b987f51539f4ef7002c786e4fdd6b6354c130020031"
            "003000300000000000000000"
        ),
        "expect": {
            "Total_Length": 299, "Command_Id": 0x00000004, "Sequence_Id": 8183876,
        },
    },
    {
        "id": "smsgate-submit-v20-mixedfmt-1of4",
        "source": (
            "Lihuanghe/SMSGate src/test/java/com/zx/sms/codec/cmpp/TestDiffrentMsgFmt.java "
            "(commit 2a61eef7da71), PDU 1 of the 4 in the test's byte stream; no getVersion "
            "override, decodes only with the 2.0 layout. The test asserts the reassembled text "
            "(see LONG_SMS_VECTORS)"
        ),
        "version": "2.0",
        "hex": (
            "0000012b0000000455c51d4e43c0ee40261c1d50040100093130303836000000000002000000000000"
            "0000000000000000000000000000000001080000000000003031303030303030000000000000000000"
            "0000000000000000000000000000000000000000000000000031303038360000000000000000000000"
            "0000000000013133383030313338303030000000000000000000008c050003e404015c0a656c76845b"
            "a26237002c60a8597dff0160a84e8e0032003000310036002d00300033002d00320033002000310034"
            "003a00350031003a00330036901a8fc74e2d56fd79fb52a8003100300030003800359500552e4e137e"
            "bf8ba28d2d768430104e0052a0624b673a9ad86e059632522e4fdd62a4819c3011ff0c8bf770b951fb"
            "652f4ed80000000000000000"
        ),
        "expect": {
            "Total_Length": 299, "Command_Id": 0x00000004, "Sequence_Id": 1438981454,
        },
    },
    {
        "id": "smsgate-submit-v20-mixedfmt-2of4",
        "source": (
            "Lihuanghe/SMSGate src/test/java/com/zx/sms/codec/cmpp/TestDiffrentMsgFmt.java "
            "(commit 2a61eef7da71), PDU 2 of the 4 in the test's byte stream; no getVersion "
            "override, decodes only with the 2.0 layout. The test asserts the reassembled text "
            "(see LONG_SMS_VECTORS)"
        ),
        "version": "2.0",
        "hex": (
            "0000012b0000000455c51d5143c0ee40261c1d50040200093130303836000000000002000000000000"
            "0000000000000000000000000000000001080000000000003031303030303030000000000000000000"
            "0000000000000000000000000000000000000000000000000031303038360000000000000000000000"
            "0000000000013133383030313338303030000000000000000000008c050003e4040200680074007400"
            "70003a002f002f007700770077002e00310030003000380035002e0063006e002f0077006500620038"
            "0035002f0070006100670065002f007a0079007a0078007000610079002f007700610070005f006f00"
            "72006400650072002e00680074006d006c003f006f007200640065007200490064003d003700360044"
            "004500460000000000000000"
        ),
        "expect": {
            "Total_Length": 299, "Command_Id": 0x00000004, "Sequence_Id": 1438981457,
        },
    },
    {
        "id": "smsgate-submit-v20-mixedfmt-3of4",
        "source": (
            "Lihuanghe/SMSGate src/test/java/com/zx/sms/codec/cmpp/TestDiffrentMsgFmt.java "
            "(commit 2a61eef7da71), PDU 3 of the 4 in the test's byte stream; no getVersion "
            "override, decodes only with the 2.0 layout. The test asserts the reassembled text "
            "(see LONG_SMS_VECTORS)"
        ),
        "version": "2.0",
        "hex": (
            "0000012b0000000455c51d5243c0ee40261c1d50040300093130303836000000000002000000000000"
            "0000000000000000000000000000000001080000000000003031303030303030000000000000000000"
            "0000000000000000000000000000000000000000000000000031303038360000000000000000000000"
            "0000000000013133383030313338303030000000000000000000008c050003e4040300390041004500"
            "3100380030003800460035003000360046004400340045003600430042003700380032004500330042"
            "003800450037004500450038003700350045003700360036004400330044003300330035004300205b"
            "8c62104e0b535530028bf75728003600305206949f51855b8c6210652f4ed8ff0c59826709759195ee"
            "ff0c8bf70000000000000000"
        ),
        "expect": {
            "Total_Length": 299, "Command_Id": 0x00000004, "Sequence_Id": 1438981458,
        },
    },
    {
        "id": "smsgate-submit-v20-mixedfmt-4of4",
        "source": (
            "Lihuanghe/SMSGate src/test/java/com/zx/sms/codec/cmpp/TestDiffrentMsgFmt.java "
            "(commit 2a61eef7da71), PDU 4 of the 4 in the test's byte stream; no getVersion "
            "override, decodes only with the 2.0 layout. The test asserts the reassembled text "
            "(see LONG_SMS_VECTORS)"
        ),
        "version": "2.0",
        "hex": (
            "000000ad0000000455c51d5343c0ee40261c1d50040400093130303836000000000002000000000000"
            "0000000000000000000000000000000001000000000000003031303030303030000000000000000000"
            "0000000000000000000000000000000000000000000000000031303038360000000000000000000000"
            "0000000000013133383030313338303030000000000000000000000e050003e4040461626331303038"
            "350000000000000000"
        ),
        "expect": {
            "Total_Length": 173, "Command_Id": 0x00000004, "Sequence_Id": 1438981459,
        },
    },
]

REPORT_VECTORS = [
    {
        "id": "gocmpp-receipt-60",
        "source": (
            "bigwhite/gocmpp packet/receipt_test.go TestCmppReceiptPkt* (commit 67d94fa72f26); "
            "60-byte report body only (gocmpp CmppReceiptPkt)"
        ),
        "version": "2.0",
        "hex": (
            "b4c553000001000044454c4956524431353131313230393535313531313132303935373133343132"
            "3334303030300000000000000000000012345678"
        ),
        "expect": {
            "Msg_Id": 0xB4C5530000010000,
            "Stat": b"DELIVRD",
            "Submit_time": b"1511120955",
            "Done_time": b"1511120957",
            "Dest_terminal_Id": b"13412340000",
            "SMSC_sequence": 0x12345678,
        },
    },
    {
        "id": "go_cmpp-report-60",
        "source": (
            "yedamao/go_cmpp cmpp/protocol/report_test.go TestParseReport (commit c3fe4d9e0695); "
            "60-byte report body only, given as decimal bytes; the test asserts only that "
            "ParseReport accepts it (Stat MK:0012, a vendor code)"
        ),
        "version": "2.0",
        "hex": (
            "6642908009d959fe4d4b3a3030313231383036313231363430313830363132313634303836313437"
            "313437363238393400000000000000003f8a2ec0"
        ),
        "expect": {},
    },
]

LONG_SMS_VECTORS = [
    {
        "id": "smsgate-mixedfmt",
        "source": (
            "Lihuanghe/SMSGate src/test/java/com/zx/sms/codec/cmpp/TestDiffrentMsgFmt.java "
            "(commit 2a61eef7da71): four SUBMIT parts of one long message, UDH reference 0xE4, "
            "parts 1-3 Msg_Fmt 8 (UCS2), part 4 Msg_Fmt 0 (ASCII); the test asserts the text "
            "after decoding each part with its own Msg_Fmt and joining them (D15)"
        ),
        "parts": [
            "smsgate-submit-v20-mixedfmt-1of4",
            "smsgate-submit-v20-mixedfmt-2of4",
            "smsgate-submit-v20-mixedfmt-3of4",
            "smsgate-submit-v20-mixedfmt-4of4",
        ],
        "text": (
            "尊敬的客户,您好！您于2016-03-23 14:51:36"
            "通过中国移动10085销售专线订购的"
            "【一加手机高清防刮保护膜】，请点击支付"
            "http://www.10085.cn/web85/page/zyzxpay/wap_order.html"
            "?orderId=76DEF9AE1808F506FD4E6CB782E3B8E7EE875E766D3D335C"
            " 完成下单。请在60分钟内完成支付，"
            "如有疑问，请abc10085"
        ),
    },
]

AUTH_VECTORS = [
    {
        "id": "gocmpp-auth",
        "source": (
            "bigwhite/gocmpp packet/connect_test.go (commit 064b64df16b5); same values as "
            "reference §7.2, carried by gocmpp-connect / gocmpp-connect-resp-v20 / -v30"
        ),
        "Source_Addr": b"900001",
        "secret": b"888888",
        "Timestamp": 1021080510,
        "AuthenticatorSource": (
            b"\x90\xd0\x0c\x1d\x51\x7a\xbd\x0b"
            b"\x4f\x65\xf6\xbc\xf8\x53\x5d\x16"
        ),
        "Status": 0,
        "AuthenticatorISMG_v20": (
            b"\x6c\x0b\x84\x6e\x25\xba\xb6\xda"
            b"\xa4\xed\x1c\x46\x6e\x0f\x4b\xd8"
        ),
        "AuthenticatorISMG_v30": (
            b"\x79\x42\x97\x72\x74\x09\x8c\xf2"
            b"\x10\xab\x0c\x16\xc3\x67\xbc\x8d"
        ),
    },
]

DEVIATION_VECTORS = [
    {
        "id": "d13-active-test-resp-declares-13-sends-16",
        "source": "reference §11 D13: pycmpp sends b'0x00' as the body while declaring 13",
        "version": "2.0",
        "stream": "0000000d800000080000000730783030",
        "pdus": [13],
        "skipped": "783030",
        "expect": {"Total_Length": 13, "Command_Id": 0x80000008, "Sequence_Id": 7,
                   "Reserved": 0x30},
        "findings": [],
    },
    {
        "id": "d21-submit-v30-recipients-21-bytes-apart",
        "source": "reference §11 D21: a 2.0-style client lays group-send recipients 21 bytes "
                  "apart in a 3.0 SUBMIT",
        "version": "3.0",
        "hex": (
            "000000e800000004000000150000000000000000010101004d56455249465900000000000000"
            "0000000000000000000000000000000000000000000000000000000000000000003930313233"
            "3430313030303030300000000000000000000000000000000000000000000000000000000000"
            "0000000000313036353731323334350000000000000000000000023133393030313339303030"
            "0000000000000000000031333730303133373030300000000000000000000000000000000000"
            "000000000000000000000000000000000568656c6c6f00000000000000000000000000000000"
            "00000000"
        ),
        "expect": {"Total_Length": 232, "Command_Id": 0x00000004, "Sequence_Id": 21,
                   "DestUsr_tl": 2, "Dest_terminal_Id": [b"13900139000", b""],
                   "Msg_Content": b"hello"},
        "findings": ["bytes-after-nul"],
    },
    {
        "id": "d22-submit-resp-v20-msg-id-little-endian",
        "source": "reference §11 D22: a C library writes body integers little-endian; the id "
                  "is 11-24 10:15:49 gateway 079101 sequence 261",
        "version": "2.0",
        "hex": "0000001580000004000000160501fd3441fc28bc00",
        "expect": {"Total_Length": 21, "Command_Id": 0x80000004, "Sequence_Id": 22,
                   "Msg_Id": 360847846053521596, "Result": 0},
        "findings": ["msgid-byte-order"],
    },
    {
        "id": "d24-connect-resp-v20-all-zero-authenticator",
        "source": "reference §11 D24: Status 0 with 16 zero bytes and Version 0x20",
        "version": "2.0",
        "hex": "0000001e8000000100000018000000000000000000000000000000000020",
        "expect": {"Total_Length": 30, "Command_Id": 0x80000001, "Sequence_Id": 24,
                   "Status": 0, "AuthenticatorISMG": bytes(16), "Version": 0x20},
        "findings": ["auth-ismg-zero"],
    },
    {
        "id": "d25-submit-v20-filler",
        "source": "reference §11 D25: ValId_Time and At_Time sent as \"0\" and NULs, "
                  "Service_Id cut to 10 characters",
        "version": "2.0",
        "hex": (
            "000000a800000004000000190000000000000000010101004d564552494659434f4400000000"
            "0000000000000000000000000000000000000000003930313233343031303030303030300000"
            "0000000000000000000000000000300000000000000000000000000000000031303635373132"
            "3334350000000000000000000000013133393030313339303030000000000000000000000963"
            "6f646520313233340000000000000000"
        ),
        "expect": {"Total_Length": 168, "Command_Id": 0x00000004, "Sequence_Id": 25,
                   "Service_Id": b"MVERIFYCOD", "ValId_Time": b"0", "At_Time": b"0",
                   "Msg_Content": b"code 1234"},
        "findings": [],
    },
]
