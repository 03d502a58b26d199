"""Header names of the messages the listener publishes; the body is the frame's bytes, untouched.

Headers carry routing facts only (who sent it, its control id and type, the listener's verdict),
never patient data.
"""

VERDICT = "x-hub-verdict"
REASON = "x-hub-reason"
ACK_CODE = "x-hub-ack-code"
PEER = "x-hub-peer"
RECEIVED_AT = "x-hub-received-at"
SENDER = "x-hub-sender"
CONTROL_ID = "x-hub-control-id"
TYPE = "x-hub-type"
VERSION = "x-hub-version"
REPLAY_OF = "x-hub-replay-of"
ERR_CODE = "x-hub-err-code"  # ERR-3 (table 0357) of a rejection

ACCEPTED = "accepted"
REJECTED = "rejected"
