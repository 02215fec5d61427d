-- Wireshark / tshark dissectors for this project's BIER traffic (tshark 4.0 has none):
--
--   bier8296  RFC 8296 BIER, non-MPLS form, over Ethernet (EtherType 0xAB37): every header
--             field, the BitString as hex and as its set bit positions, then the payload
--             handed to the IPv4 / IPv6 / Ethernet / MPLS dissector by Proto.
--   ofbier    our OpenFlow 1.3 experimenter extension (drafts/bier-openflow.md, experimenter
--             id 0x00424945): messages, actions (bier_encap / bier_decap / bier_forward) and
--             error codes.
--
-- Use:   tshark -X lua_script:tools/wireshark/bier.lua -r capture.pcap -O bier8296,ofbier
--        (OpenFlow on another port than 6653: add -d tcp.port==PORT,openflow)
--   or copy this file to ~/.local/lib/wireshark/plugins/.
--
-- How the OpenFlow part hooks in: the openflow_v4 dissector of Wireshark 4.0 has no
-- dissector table for experimenter ids (it prints "Experimenter body" as undecoded), so
-- ofbier is a post-dissector. After openflow_v4 has run, it looks at every openflow_v4
-- protocol item of the frame (one per OpenFlow message, wherever TCP put it), reads the
-- message from that item's data source (FieldInfo.source, so reassembled messages work too),
-- and dissects the ones with our experimenter id; likewise every experimenter action and
-- every OFPET_EXPERIMENTER error. Field names: `tshark -G fields | grep -E 'bier8296|ofbier'`.
--
-- Display filters: bier8296.bitstring.bit == 5, ofbier.type == 3, ofbier.entry.bit == 17, ...
-- Malformed input is flagged with expert infos (group Malformed / Protocol), never silently.

local EXPERIMENTER_ID = 0x00424945
local ETHERTYPE_BIER = 0xAB37

-- Shared helpers ------------------------------------------------------------------------

local bsl_vals = {
    [1] = "64 bits", [2] = "128 bits", [3] = "256 bits", [4] = "512 bits",
    [5] = "1024 bits", [6] = "2048 bits", [7] = "4096 bits",
}

-- Bytes of a BitString of BSL code c, or nil for an undefined code.
local function bsl_bytes(code)
    if code >= 1 and code <= 7 then
        return 8 * 2 ^ (code - 1)
    end
    return nil
end

-- The set bit positions of a BitString (RFC 8279 §3: position 1 is the low-order bit of the
-- last byte), lowest first.
local function bit_positions(range)
    local ba = range:bytes()
    local n = ba:len()
    local out = {}
    for i = n - 1, 0, -1 do
        local b = ba:get_index(i)
        local base = (n - 1 - i) * 8
        for k = 1, 8 do
            if b % 2 == 1 then
                out[#out + 1] = base + k
            end
            b = math.floor(b / 2)
        end
    end
    return out
end

-- RFC 8296 BIER header ---------------------------------------------------------------------

local bier = Proto("bier8296", "Bit Index Explicit Replication (RFC 8296)")

local proto_vals = {
    [0] = "Reserved",
    [1] = "MPLS packet, downstream-assigned label",
    [2] = "MPLS packet, upstream-assigned label",
    [3] = "Ethernet frame",
    [4] = "IPv4 packet",
    [5] = "OAM packet",
    [6] = "IPv6 packet",
    [63] = "Reserved",
}

local hf = {
    bift_id = ProtoField.uint32("bier8296.bift_id", "BIFT-id", base.HEX, nil, 0xFFFFF000),
    tc = ProtoField.uint32("bier8296.tc", "TC", base.DEC, nil, 0x00000E00),
    s = ProtoField.uint32("bier8296.s", "S", base.DEC, nil, 0x00000100),
    ttl = ProtoField.uint32("bier8296.ttl", "TTL", base.DEC, nil, 0x000000FF),
    nibble = ProtoField.uint32("bier8296.nibble", "Nibble", base.HEX, nil, 0xF0000000),
    version = ProtoField.uint32("bier8296.version", "Version", base.DEC, nil, 0x0F000000),
    bsl = ProtoField.uint32("bier8296.bsl", "BSL", base.DEC, bsl_vals, 0x00F00000),
    entropy = ProtoField.uint32("bier8296.entropy", "Entropy", base.HEX, nil, 0x000FFFFF),
    oam = ProtoField.uint16("bier8296.oam", "OAM", base.DEC, nil, 0xC000),
    rsv = ProtoField.uint16("bier8296.rsv", "Rsv", base.DEC, nil, 0x3000),
    dscp = ProtoField.uint16("bier8296.dscp", "DSCP", base.DEC, nil, 0x0FC0),
    proto = ProtoField.uint16("bier8296.proto", "Proto", base.DEC, proto_vals, 0x003F),
    bfir_id = ProtoField.uint16("bier8296.bfir_id", "BFIR-id", base.DEC),
    bitstring = ProtoField.bytes("bier8296.bitstring", "BitString"),
    positions = ProtoField.string("bier8296.bitstring.positions", "Set bit positions"),
    nbits = ProtoField.uint16("bier8296.bitstring.count", "Set bits", base.DEC),
    bit = ProtoField.uint16("bier8296.bitstring.bit", "Bit position", base.DEC),
}
bier.fields = {
    hf.bift_id, hf.tc, hf.s, hf.ttl, hf.nibble, hf.version, hf.bsl, hf.entropy, hf.oam,
    hf.rsv, hf.dscp, hf.proto, hf.bfir_id, hf.bitstring, hf.positions, hf.nbits, hf.bit,
}

local ef = {
    truncated = ProtoExpert.new("bier8296.truncated", "Truncated BIER header",
        expert.group.MALFORMED, expert.severity.ERROR),
    nibble = ProtoExpert.new("bier8296.bad_nibble", "Nibble is not 0101 (RFC 8296 §2.1.2)",
        expert.group.MALFORMED, expert.severity.ERROR),
    version = ProtoExpert.new("bier8296.bad_version", "BIER version other than 0",
        expert.group.PROTOCOL, expert.severity.WARN),
    bsl = ProtoExpert.new("bier8296.bad_bsl", "Undefined BSL code",
        expert.group.MALFORMED, expert.severity.ERROR),
    ttl = ProtoExpert.new("bier8296.ttl_zero", "TTL 0: a BFR drops this packet",
        expert.group.PROTOCOL, expert.severity.WARN),
}
bier.experts = { ef.truncated, ef.nibble, ef.version, ef.bsl, ef.ttl }

-- Payload dissectors by Proto (IANA "BIER Next Protocol Identifiers").
local payload_by_proto = {
    [1] = Dissector.get("mpls"),
    [2] = Dissector.get("mpls"),
    [3] = Dissector.get("eth_withoutfcs"),
    [4] = Dissector.get("ip"),
    [6] = Dissector.get("ipv6"),
}
local data_dissector = Dissector.get("data")

function bier.dissector(tvb, pinfo, tree)
    pinfo.cols.protocol = "BIER"
    local len = tvb:len()
    local t = tree:add(bier, tvb(0, math.min(len, 12)))
    if len < 12 then
        t:add_proto_expert_info(ef.truncated, "Truncated BIER header: " .. len .. " of 12+ bytes")
        return len
    end
    t:add(hf.bift_id, tvb(0, 4))
    t:add(hf.tc, tvb(0, 4))
    t:add(hf.s, tvb(0, 4))
    local ttl_item = t:add(hf.ttl, tvb(0, 4))
    local nib_item = t:add(hf.nibble, tvb(4, 4))
    local ver_item = t:add(hf.version, tvb(4, 4))
    local bsl_item = t:add(hf.bsl, tvb(4, 4))
    t:add(hf.entropy, tvb(4, 4))
    t:add(hf.oam, tvb(8, 2))
    t:add(hf.rsv, tvb(8, 2))
    t:add(hf.dscp, tvb(8, 2))
    t:add(hf.proto, tvb(8, 2))
    t:add(hf.bfir_id, tvb(10, 2))

    local w0 = tvb(0, 4):uint()
    local w1 = tvb(4, 4):uint()
    local bift_id = math.floor(w0 / 4096)
    local ttl = w0 % 256
    local nibble = math.floor(w1 / 0x10000000)
    local version = math.floor(w1 / 0x1000000) % 16
    local code = math.floor(w1 / 0x100000) % 16
    local proto = tvb(8, 2):uint() % 64
    if nibble ~= 5 then
        nib_item:add_proto_expert_info(ef.nibble)
    end
    if version ~= 0 then
        ver_item:add_proto_expert_info(ef.version)
    end
    if ttl == 0 then
        ttl_item:add_proto_expert_info(ef.ttl)
    end
    local nbytes = bsl_bytes(code)
    if nbytes == nil then
        bsl_item:add_proto_expert_info(ef.bsl)
        return 12
    end
    if len < 12 + nbytes then
        t:add_proto_expert_info(ef.truncated, "Truncated BIER header: BitString needs " ..
            nbytes .. " bytes, " .. (len - 12) .. " present")
        return len
    end
    t:set_len(12 + nbytes)
    local bs = tvb(12, nbytes)
    local bs_item = t:add(hf.bitstring, bs)
    local pos = bit_positions(bs)
    local list = table.concat(pos, ",")
    bs_item:add(hf.positions, bs, list):set_generated()
    bs_item:add(hf.nbits, bs, #pos):set_generated()
    for _, p in ipairs(pos) do
        bs_item:add(hf.bit, bs, p):set_generated()
    end
    t:append_text(string.format(", BIFT-id 0x%05x, BSL %d, TTL %d, bits {%s}", bift_id,
        nbytes * 8, ttl, list))
    pinfo.cols.info = string.format("BIER BIFT-id 0x%05x TTL %d bits {%s}", bift_id, ttl, list)

    local rest = len - 12 - nbytes
    if rest > 0 then
        local payload = tvb(12 + nbytes):tvb()
        local d = payload_by_proto[proto] or data_dissector
        d:call(payload, pinfo, tree)
    end
    return len
end

DissectorTable.get("ethertype"):add(ETHERTYPE_BIER, bier)

-- OpenFlow experimenter extension ------------------------------------------------------------

local ofbier = Proto("ofbier", "OpenFlow BIER extension (experimenter 0x00424945)")

local type_vals = {
    [1] = "CAPS_REQUEST", [2] = "CAPS_REPLY", [3] = "BIFT_MOD", [4] = "BIFT_CLEAR",
    [5] = "BIFT_QUERY", [6] = "BIFT_REPLY", [7] = "BFR_MOD", [8] = "BFR_QUERY",
    [9] = "BFR_REPLY", [10] = "TSM_CONFIG", [11] = "TSM_EVENT",
}
local kind_vals = { [0] = "BIER", [1] = "BIER-TE" }
local command_vals = { [1] = "REPLACE", [2] = "MODIFY" }
local action_vals = { [0] = "REMOVE", [1] = "FORWARD", [2] = "LOCAL_DECAP" }
local adj_vals = {
    [1] = "forward_connected", [2] = "forward_routed", [3] = "local_decap", [4] = "ECMP",
}
local bfr_command_vals = { [1] = "REPLACE", [2] = "ADD", [3] = "DELETE" }
local event_vals = { [1] = "INSTALLED", [2] = "REMOVED" }
local reason_vals = { [0] = "-", [1] = "IDLE", [2] = "BIFT_CHANGED", [3] = "CONFIG", [4] = "CAPACITY" }
local subtype_vals = { [1] = "bier_encap", [2] = "bier_decap", [3] = "bier_forward" }
local entropy_vals = { [0] = "FIXED", [1] = "FLOW_HASH" }
local error_vals = {
    [1] = "BAD_EXT_VERSION", [2] = "UNSUPPORTED_BSL", [3] = "UNSUPPORTED_SUB_DOMAIN",
    [4] = "BAD_SI", [5] = "BAD_BIFT_ID", [6] = "BAD_BIT_POSITION", [7] = "BAD_NEXT_HOP",
    [8] = "BAD_ENTRY", [9] = "BAD_ADJACENCY", [10] = "TE_UNSUPPORTED", [11] = "BAD_SEQUENCE",
    [12] = "NO_SUCH_BIFT", [13] = "TABLE_FULL", [14] = "BAD_BFR_ID", [15] = "BAD_TSM_CONFIG",
    [16] = "BAD_ENCAP",
}

local F = {}
local function u8(abbr, name, vals) F[abbr] = ProtoField.uint8("ofbier." .. abbr, name, base.DEC, vals) end
local function u16(abbr, name, vals) F[abbr] = ProtoField.uint16("ofbier." .. abbr, name, base.DEC, vals) end
local function u32(abbr, name, vals) F[abbr] = ProtoField.uint32("ofbier." .. abbr, name, base.DEC, vals) end
local function x8(abbr, name) F[abbr] = ProtoField.uint8("ofbier." .. abbr, name, base.HEX) end
local function x16(abbr, name) F[abbr] = ProtoField.uint16("ofbier." .. abbr, name, base.HEX) end
local function x32(abbr, name) F[abbr] = ProtoField.uint32("ofbier." .. abbr, name, base.HEX) end
local function flag(abbr, name, bits, mask) F[abbr] = ProtoField.bool("ofbier." .. abbr, name, bits, nil, mask) end
local function str(abbr, name) F[abbr] = ProtoField.string("ofbier." .. abbr, name) end
local function bytes(abbr, name) F[abbr] = ProtoField.bytes("ofbier." .. abbr, name) end

u32("type", "Type", type_vals)
-- CAPS
u8("caps.version", "Extension version")
u8("caps.max_ecmp", "Max ECMP")
x16("caps.capabilities", "Capabilities")
flag("caps.bier", "BIER", 16, 0x0001)
flag("caps.bier_te", "BIER-TE", 16, 0x0002)
flag("caps.ecmp", "ECMP", 16, 0x0004)
flag("caps.encap", "ENCAP", 16, 0x0008)
flag("caps.decap", "DECAP", 16, 0x0010)
flag("caps.tsm", "TSM", 16, 0x0020)
flag("caps.te_routed", "TE_ROUTED", 16, 0x0040)
x16("caps.bsls", "BSLs")
str("caps.bsl_list", "Supported BSLs (bits)")
u16("caps.max_si", "Max SI")
u32("caps.max_bifts", "Max BIFTs")
u16("caps.max_local_bfrs", "Max local BFR-ids")
u16("caps.n_sub_domains", "Sub-domains")
u8("caps.sub_domain", "Sub-domain")
-- transactions / replies
u32("txn", "Transaction")
u16("seq", "Sequence")
x16("flags", "Flags")
flag("flags.more", "MORE", 16, 0x0001)
u8("command", "Command", command_vals)
-- BIFT body
u8("bift.kind", "Kind", kind_vals)
u8("bift.bsl", "BSL", bsl_vals)
u16("bift.si", "SI")
x32("bift.bift_id", "BIFT-id")
u8("bift.sub_domain", "Sub-domain")
u16("bift.n_next_hops", "Next hops")
u16("bift.n_entries", "Entries")
u16("nh.id", "Next-hop id")
u32("nh.port", "Port")
bytes("nh.fbm", "F-BM")
str("nh.fbm.positions", "F-BM bit positions")
u16("entry.bit", "Bit position")
u8("entry.action", "Action", action_vals)
u8("entry.n_nh", "Next-hop ids")
u16("entry.nh_id", "Next-hop id")
str("entry.nh_list", "Next-hop ids")
u16("te.bit", "Bit position")
u16("te.n_adj", "Adjacencies")
u8("adj.type", "Adjacency", adj_vals)
x8("adj.flags", "Flags")
flag("adj.dnc", "DNC", 8, 0x01)
u16("adj.n_members", "ECMP members")
u32("adj.value", "Value")
-- selector
x32("sel.bift_id", "BIFT-id")
u8("sel.sub_domain", "Sub-domain")
u8("sel.kind", "Kind", kind_vals)
x16("sel.flags", "Flags")
flag("sel.all_bift_ids", "ALL_BIFT_IDS", 16, 0x0001)
flag("sel.any_sub_domain", "ANY_SUB_DOMAIN", 16, 0x0002)
flag("sel.any_kind", "ANY_KIND", 16, 0x0004)
-- BFR
u8("bfr.command", "Command", bfr_command_vals)
u8("bfr.sub_domain", "Sub-domain")
u16("bfr.n", "Records")
flag("bfr.any_sub_domain", "ANY_SUB_DOMAIN", 16, 0x0001)
u16("bfr.bfr_id", "BFR-id")
x16("bfr.flags", "Flags")
flag("bfr.decap", "DECAP", 16, 0x0001)
u32("bfr.port", "Port")
-- TSM
x16("tsm.flags", "Flags")
flag("tsm.enable", "ENABLE", 16, 0x0001)
flag("tsm.notify", "NOTIFY", 16, 0x0002)
u32("tsm.threshold", "Threshold (packets)")
u32("tsm.window_ms", "Window (ms)")
u32("tsm.idle_timeout_ms", "Idle timeout (ms)")
u32("tsm.max_groups", "Max groups")
x32("tsm.group_id_first", "First group id")
x32("tsm.group_id_last", "Last group id")
u8("tsm.event", "Event", event_vals)
u8("tsm.reason", "Reason", reason_vals)
u8("tsm.bsl", "BSL", bsl_vals)
x32("tsm.group_id", "Group id")
x32("tsm.bift_id", "BIFT-id")
u16("tsm.n_ports", "Ports")
F["tsm.packet_count"] = ProtoField.uint64("ofbier.tsm.packet_count", "Packets", base.DEC)
bytes("tsm.bitstring", "BitString")
str("tsm.bitstring.positions", "Set bit positions")
u32("tsm.port", "Port")
-- actions
u16("action.subtype", "Action", subtype_vals)
x8("encap.flags", "Flags")
flag("encap.copy_dscp", "COPY_DSCP", 8, 0x01)
u8("encap.entropy_source", "Entropy source", entropy_vals)
x32("encap.bift_id", "BIFT-id")
u8("encap.sub_domain", "Sub-domain")
u8("encap.bsl", "BSL", bsl_vals)
u16("encap.si", "SI")
u16("encap.bfir_id", "BFIR-id")
u8("encap.ttl", "TTL")
u8("encap.tc", "TC")
x32("encap.entropy", "Entropy")
bytes("encap.bitstring", "BitString")
str("encap.bitstring.positions", "Set bit positions")
-- errors
u16("error.code", "BIER error", error_vals)

local field_list = {}
for _, f in pairs(F) do
    field_list[#field_list + 1] = f
end
ofbier.fields = field_list

local malformed = ProtoExpert.new("ofbier.malformed", "Malformed BIER extension message",
    expert.group.MALFORMED, expert.severity.ERROR)
local unknown = ProtoExpert.new("ofbier.unknown", "Unknown BIER extension type",
    expert.group.UNDECODED, expert.severity.WARN)
local quoted = ProtoExpert.new("ofbier.quoted", "Quoted message ends here (an error keeps its first bytes)",
    expert.group.COMMENTS_GROUP, expert.severity.NOTE)
ofbier.experts = { malformed, unknown, quoted }

-- A cursor over one message (or action) in its data source. `stop` marks it failed, so the
-- callers just return; `need` checks that n more bytes exist within the structure.
local Cursor = {}
Cursor.__index = Cursor

local function cursor(src, start, len, item, is_quote)
    return setmetatable({ src = src, pos = start, stop_at = start + len, item = item,
        quote = is_quote, failed = false }, Cursor)
end

function Cursor:need(n, what)
    if self.failed then return false end
    if self.pos + n <= self.stop_at then return true end
    self.failed = true
    if self.quote then
        self.item:add_proto_expert_info(quoted)
    else
        self.item:add_proto_expert_info(malformed, what .. ": needs " .. n .. " bytes, " ..
            (self.stop_at - self.pos) .. " left")
    end
    return false
end

function Cursor:take(n)
    local r = self.src(self.pos, n)
    self.pos = self.pos + n
    return r
end

-- Adds field `abbr` over the next n bytes; returns the range and its value (or nil).
function Cursor:add(tree, abbr, n)
    if not self:need(n, abbr) then return nil, nil end
    local r = self:take(n)
    tree:add(F[abbr], r)
    if n <= 4 then return r, r:uint() end
    return r, nil
end

function Cursor:skip(n, what)
    if self:need(n, what) then self:take(n) end
end

local function add_bits(c, tree, abbr, nbytes)
    if not c:need(nbytes, abbr) then return end
    local r = c:take(nbytes)
    local it = tree:add(F[abbr], r)
    it:add(F[abbr .. ".positions"], r, table.concat(bit_positions(r), ",")):set_generated()
end

local function dissect_bift(c, tree)
    local t = tree:add(ofbier, c.src(c.pos, math.max(0, c.stop_at - c.pos)), "BIFT")
    local _, kind = c:add(t, "bift.kind", 1)
    local _, code = c:add(t, "bift.bsl", 1)
    local _, si = c:add(t, "bift.si", 2)
    local _, bift_id = c:add(t, "bift.bift_id", 4)
    c:add(t, "bift.sub_domain", 1)
    c:skip(1, "pad")
    local _, nh = c:add(t, "bift.n_next_hops", 2)
    local _, ne = c:add(t, "bift.n_entries", 2)
    c:skip(2, "pad")
    if c.failed then return end
    local nbytes = bsl_bytes(code)
    if nbytes == nil then
        t:add_proto_expert_info(malformed, "Undefined BSL code " .. code)
        c.failed = true
        return
    end
    t:append_text(string.format(": %s, BIFT-id 0x%05x, BSL %d, SI %d, %d entries",
        kind_vals[kind] or "?", bift_id, nbytes * 8, si, ne))
    if kind == 0 then
        for _ = 1, nh do
            if not c:need(8 + nbytes, "next hop") then return end
            local ht = t:add(ofbier, c.src(c.pos, 8 + nbytes), "Next hop")
            local _, id = c:add(ht, "nh.id", 2)
            c:skip(2, "pad")
            local _, port = c:add(ht, "nh.port", 4)
            add_bits(c, ht, "nh.fbm", nbytes)
            ht:append_text(string.format(" %d: port %d", id, port))
        end
        for _ = 1, ne do
            if not c:need(4, "entry") then return end
            local k = c.src(c.pos + 3, 1):uint()
            local elen = 4 + 2 * k
            elen = elen + (8 - elen % 8) % 8
            if not c:need(elen, "entry") then return end
            local et = t:add(ofbier, c.src(c.pos, elen), "Entry")
            local _, bit = c:add(et, "entry.bit", 2)
            local _, action = c:add(et, "entry.action", 1)
            c:add(et, "entry.n_nh", 1)
            local ids = {}
            for _ = 1, k do
                local _, id = c:add(et, "entry.nh_id", 2)
                ids[#ids + 1] = id
            end
            local list = table.concat(ids, ",")
            et:add(F["entry.nh_list"], c.src(c.pos - 2 * k - 4, 4 + 2 * k), list):set_generated()
            c:skip(elen - 4 - 2 * k, "pad")
            et:append_text(string.format(" bit %d: %s %s", bit, action_vals[action] or "?", list))
        end
    elseif kind == 1 then
        if nh ~= 0 then
            t:add_proto_expert_info(malformed, "BIER-TE table with next-hop records")
        end
        for _ = 1, ne do
            if not c:need(8, "BIER-TE entry") then return end
            local estart = c.pos
            local et = t:add(ofbier, c.src(c.pos, 8), "BIER-TE entry")
            local _, bit = c:add(et, "te.bit", 2)
            local _, nadj = c:add(et, "te.n_adj", 2)
            c:skip(4, "pad")
            et:append_text(" bit " .. bit)
            local function adjacency(member)
                if not c:need(8, "adjacency") then return end
                local at = et:add(ofbier, c.src(c.pos, 8), member and "ECMP member" or "Adjacency")
                local _, ty = c:add(at, "adj.type", 1)
                at:add(F["adj.dnc"], c.src(c.pos, 1))
                c:add(at, "adj.flags", 1)
                local _, m = c:add(at, "adj.n_members", 2)
                local _, v = c:add(at, "adj.value", 4)
                at:append_text(string.format(": %s %d", adj_vals[ty] or "?", v or 0))
                if ty == 4 and not member then
                    for _ = 1, m do adjacency(true) end
                end
            end
            for _ = 1, nadj do adjacency(false) end
            et:set_len(c.pos - estart)
        end
    else
        t:add_proto_expert_info(malformed, "Unknown table kind " .. kind)
        c.failed = true
    end
end

local function dissect_selector(c, t)
    c:add(t, "sel.bift_id", 4)
    c:add(t, "sel.sub_domain", 1)
    c:add(t, "sel.kind", 1)
    if c:need(2, "flags") then
        local r = c.src(c.pos, 2)
        t:add(F["sel.all_bift_ids"], r)
        t:add(F["sel.any_sub_domain"], r)
        t:add(F["sel.any_kind"], r)
    end
    c:add(t, "sel.flags", 2)
end

local function more_flags(c, t)
    if c:need(2, "flags") then
        t:add(F["flags.more"], c.src(c.pos, 2))
    end
    c:add(t, "flags", 2)
end

local function bfr_records(c, t, n)
    for _ = 1, n do
        if not c:need(8, "local BFR-id") then return end
        local rt = t:add(ofbier, c.src(c.pos, 8), "Local BFR-id")
        local _, id = c:add(rt, "bfr.bfr_id", 2)
        rt:add(F["bfr.decap"], c.src(c.pos, 2))
        c:add(rt, "bfr.flags", 2)
        local _, port = c:add(rt, "bfr.port", 4)
        rt:append_text(string.format(" %d → port %d", id, port))
    end
end

local dissect_type = {}

dissect_type[1] = function(c, t)
    c:add(t, "caps.version", 1)
    c:skip(7, "pad")
end

dissect_type[2] = function(c, t)
    c:add(t, "caps.version", 1)
    c:add(t, "caps.max_ecmp", 1)
    if c:need(2, "capabilities") then
        local r = c.src(c.pos, 2)
        for _, f in ipairs({ "bier", "bier_te", "ecmp", "encap", "decap", "tsm", "te_routed" }) do
            t:add(F["caps." .. f], r)
        end
    end
    c:add(t, "caps.capabilities", 2)
    local r, mask = c:add(t, "caps.bsls", 2)
    if r then
        local list = {}
        for code = 1, 7 do
            if math.floor(mask / 2 ^ code) % 2 == 1 then list[#list + 1] = 8 * bsl_bytes(code) end
        end
        t:add(F["caps.bsl_list"], r, table.concat(list, ",")):set_generated()
    end
    c:add(t, "caps.max_si", 2)
    c:add(t, "caps.max_bifts", 4)
    c:add(t, "caps.max_local_bfrs", 2)
    local _, n = c:add(t, "caps.n_sub_domains", 2)
    for _ = 1, (n or 0) do c:add(t, "caps.sub_domain", 1) end
    if n then c:skip((8 - n % 8) % 8, "pad") end
end

dissect_type[3] = function(c, t)
    c:add(t, "txn", 4)
    c:add(t, "seq", 2)
    more_flags(c, t)
    c:add(t, "command", 1)
    c:skip(7, "pad")
    if not c.failed then dissect_bift(c, t) end
end

dissect_type[4] = dissect_selector
dissect_type[5] = dissect_selector

dissect_type[6] = function(c, t)
    c:add(t, "seq", 2)
    more_flags(c, t)
    c:skip(4, "pad")
    if not c.failed and c.pos < c.stop_at then dissect_bift(c, t) end
end

dissect_type[7] = function(c, t)
    c:add(t, "bfr.command", 1)
    c:add(t, "bfr.sub_domain", 1)
    local _, n = c:add(t, "bfr.n", 2)
    c:skip(4, "pad")
    bfr_records(c, t, n or 0)
end

dissect_type[8] = function(c, t)
    c:add(t, "bfr.sub_domain", 1)
    c:skip(1, "pad")
    if c:need(2, "flags") then t:add(F["bfr.any_sub_domain"], c.src(c.pos, 2)) end
    c:add(t, "flags", 2)
    c:skip(4, "pad")
end

dissect_type[9] = function(c, t)
    more_flags(c, t)
    c:add(t, "bfr.sub_domain", 1)
    c:skip(1, "pad")
    local _, n = c:add(t, "bfr.n", 2)
    c:skip(2, "pad")
    bfr_records(c, t, n or 0)
end

dissect_type[10] = function(c, t)
    if c:need(2, "flags") then
        local r = c.src(c.pos, 2)
        t:add(F["tsm.enable"], r)
        t:add(F["tsm.notify"], r)
    end
    c:add(t, "tsm.flags", 2)
    c:skip(2, "pad")
    for _, f in ipairs({ "threshold", "window_ms", "idle_timeout_ms", "max_groups",
        "group_id_first", "group_id_last" }) do
        c:add(t, "tsm." .. f, 4)
    end
    c:skip(4, "pad")
end

dissect_type[11] = function(c, t)
    c:add(t, "tsm.event", 1)
    c:add(t, "tsm.reason", 1)
    local _, code = c:add(t, "tsm.bsl", 1)
    c:skip(1, "pad")
    c:add(t, "tsm.group_id", 4)
    c:add(t, "tsm.bift_id", 4)
    local _, n = c:add(t, "tsm.n_ports", 2)
    c:skip(2, "pad")
    c:add(t, "tsm.packet_count", 8)
    if c.failed then return end
    local nbytes = bsl_bytes(code)
    if nbytes == nil then
        t:add_proto_expert_info(malformed, "Undefined BSL code " .. code)
        c.failed = true
        return
    end
    add_bits(c, t, "tsm.bitstring", nbytes)
    for _ = 1, n do c:add(t, "tsm.port", 4) end
    c:skip((8 - (4 * n) % 8) % 8, "pad")
end

local function dissect_message(src, off, avail, tree)
    local declared = src(off + 2, 2):uint()
    local is_quote = avail < declared
    local len = math.min(avail, declared)
    local exp_type = src(off + 12, 4):uint()
    local t = tree:add(ofbier, src(off, len))
    t:add(F.type, src(off + 12, 4))
    t:append_text(": " .. (type_vals[exp_type] or ("type " .. exp_type)))
    local d = dissect_type[exp_type]
    if d == nil then
        t:add_proto_expert_info(unknown)
        return
    end
    local c = cursor(src, off + 16, len - 16, t, is_quote)
    d(c, t)
    if not c.failed and c.pos ~= c.stop_at then
        t:add_proto_expert_info(malformed, (c.stop_at - c.pos) .. " bytes after the end")
    end
end

local function dissect_action(src, start, len, tree)
    local t = tree:add(ofbier, src(start, len), "BIER action")
    local c = cursor(src, start + 8, len - 8, t, false)
    local _, subtype = c:add(t, "action.subtype", 2)
    if subtype == nil then return end
    t:append_text(": " .. (subtype_vals[subtype] or ("subtype " .. subtype)))
    if subtype == 1 then
        if c:need(1, "flags") then t:add(F["encap.copy_dscp"], c.src(c.pos, 1)) end
        c:add(t, "encap.flags", 1)
        c:add(t, "encap.entropy_source", 1)
        c:add(t, "encap.bift_id", 4)
        c:add(t, "encap.sub_domain", 1)
        local _, code = c:add(t, "encap.bsl", 1)
        c:add(t, "encap.si", 2)
        c:add(t, "encap.bfir_id", 2)
        c:add(t, "encap.ttl", 1)
        c:add(t, "encap.tc", 1)
        c:add(t, "encap.entropy", 4)
        c:skip(4, "pad")
        if c.failed then return end
        local nbytes = bsl_bytes(code)
        if nbytes == nil then
            t:add_proto_expert_info(malformed, "Undefined BSL code " .. code)
            return
        end
        add_bits(c, t, "encap.bitstring", nbytes)
    elseif subtype == 2 or subtype == 3 then
        c:skip(6, "pad")
    else
        t:add_proto_expert_info(unknown)
        return
    end
    if not c.failed and c.pos ~= c.stop_at then
        t:add_proto_expert_info(malformed, (c.stop_at - c.pos) .. " bytes after the end")
    end
end

local f_openflow = Field.new("openflow_v4")
local f_action_exp = Field.new("openflow_v4.action_experimenter.experimenter")
local f_error_exp = Field.new("openflow_v4.error.experimenter")

function ofbier.dissector(tvb, pinfo, tree)
    -- Messages: every openflow_v4 item spans one message (or a quoted one inside an error).
    for _, fi in ipairs({ f_openflow() }) do
        local src, off, avail = fi.source, fi.offset, fi.len
        if src ~= nil and avail >= 16 and src(off, 1):uint() == 4 and src(off + 1, 1):uint() == 4
            and src(off + 8, 4):uint() == EXPERIMENTER_ID then
            dissect_message(src, off, avail, tree)
        end
    end
    -- Actions: ofp_action_experimenter_header is type, len, experimenter.
    for _, fi in ipairs({ f_action_exp() }) do
        if fi.value == EXPERIMENTER_ID and fi.source ~= nil then
            local src, start = fi.source, fi.offset - 4
            local len = src(start + 2, 2):uint()
            if start + len <= src:len() and len >= 8 then
                dissect_action(src, start, len, tree)
            end
        end
    end
    -- Errors: ofp_error_experimenter_msg is type, exp_code, experimenter.
    for _, fi in ipairs({ f_error_exp() }) do
        if fi.value == EXPERIMENTER_ID and fi.source ~= nil then
            local r = fi.source(fi.offset - 2, 2)
            local t = tree:add(ofbier, r, "BIER error")
            t:add(F["error.code"], r)
            t:append_text(": " .. (error_vals[r:uint()] or ("code " .. r:uint())))
        end
    end
end

register_postdissector(ofbier)
