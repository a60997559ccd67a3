//! nlctrl, the generic netlink controller: its constants and the family description it
//! returns (CTRL_CMD_NEWFAMILY), parsed and built here. No socket: the fuzz targets and the
//! twin's nlctrl answers use it too.

use crate::codec::*;
use crate::error::NlError;

pub const GENL_ID_CTRL: u16 = 0x10;
pub const CTRL_CMD_NEWFAMILY: u8 = 1;
pub const CTRL_CMD_GETFAMILY: u8 = 3;
pub const CTRL_ATTR_FAMILY_ID: u16 = 1;
pub const CTRL_ATTR_FAMILY_NAME: u16 = 2;
pub const CTRL_ATTR_VERSION: u16 = 3;
pub const CTRL_ATTR_HDRSIZE: u16 = 4;
pub const CTRL_ATTR_MAXATTR: u16 = 5;
pub const CTRL_ATTR_OPS: u16 = 6;
pub const CTRL_ATTR_MCAST_GROUPS: u16 = 7;
pub const CTRL_ATTR_OP_ID: u16 = 1;
pub const CTRL_ATTR_OP_FLAGS: u16 = 2;
pub const CTRL_ATTR_MCAST_GRP_NAME: u16 = 1;
pub const CTRL_ATTR_MCAST_GRP_ID: u16 = 2;
/// GENL_ADMIN_PERM etc. as reported in CTRL_ATTR_OP_FLAGS.
pub const GENL_ADMIN_PERM: u32 = 0x01;
pub const GENL_CMD_CAP_DO: u32 = 0x02;
pub const GENL_CMD_CAP_DUMP: u32 = 0x04;
pub const GENL_CMD_CAP_HASPOL: u32 = 0x08;

/// Port of the twin in its network namespace unless configured otherwise ("PNFS").
pub const TWIN_DEFAULT_PORT: u32 = 0x504e_4653;

/// A family as nlctrl describes it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FamilyInfo {
    pub id: u16,
    pub name: String,
    pub version: u32,
    pub hdrsize: u32,
    pub maxattr: u32,
    /// (command, CTRL_ATTR_OP_FLAGS)
    pub ops: Vec<(u32, u32)>,
    /// (group name, group id)
    pub groups: Vec<(String, u32)>,
}

impl FamilyInfo {
    /// Id of the multicast group `name`.
    pub fn group(&self, name: &str) -> Option<u32> {
        self.groups
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, id)| *id)
    }

    /// Parse a CTRL_CMD_NEWFAMILY message's attributes.
    pub fn parse(attrs: &[u8]) -> Result<Self, NlError> {
        let mut f = FamilyInfo::default();
        for a in AttrIter::new(attrs) {
            let a = a?;
            match a.kind {
                CTRL_ATTR_FAMILY_ID => f.id = a.u16(),
                CTRL_ATTR_FAMILY_NAME => f.name = a.str().to_string(),
                CTRL_ATTR_VERSION => f.version = a.u32(),
                CTRL_ATTR_HDRSIZE => f.hdrsize = a.u32(),
                CTRL_ATTR_MAXATTR => f.maxattr = a.u32(),
                CTRL_ATTR_OPS => {
                    for op in a.nested() {
                        let (mut id, mut flags) = (0, 0);
                        for x in op?.nested() {
                            let x = x?;
                            match x.kind {
                                CTRL_ATTR_OP_ID => id = x.u32(),
                                CTRL_ATTR_OP_FLAGS => flags = x.u32(),
                                _ => {}
                            }
                        }
                        f.ops.push((id, flags));
                    }
                }
                CTRL_ATTR_MCAST_GROUPS => {
                    for g in a.nested() {
                        let (mut name, mut id) = (String::new(), 0);
                        for x in g?.nested() {
                            let x = x?;
                            match x.kind {
                                CTRL_ATTR_MCAST_GRP_NAME => name = x.str().to_string(),
                                CTRL_ATTR_MCAST_GRP_ID => id = x.u32(),
                                _ => {}
                            }
                        }
                        f.groups.push((name, id));
                    }
                }
                _ => {}
            }
        }
        Ok(f)
    }

    /// Encode as the attributes of a CTRL_CMD_NEWFAMILY (what the twin answers).
    pub fn encode(&self, b: &mut MsgBuilder<'_>) {
        b.put_str(CTRL_ATTR_FAMILY_NAME, &self.name);
        b.put_u16(CTRL_ATTR_FAMILY_ID, self.id);
        b.put_u32(CTRL_ATTR_VERSION, self.version);
        b.put_u32(CTRL_ATTR_HDRSIZE, self.hdrsize);
        b.put_u32(CTRL_ATTR_MAXATTR, self.maxattr);
        if !self.ops.is_empty() {
            let ops = b.nest_begin(CTRL_ATTR_OPS);
            for (i, (id, flags)) in self.ops.iter().enumerate() {
                let n = b.nest_begin(i as u16 + 1);
                b.put_u32(CTRL_ATTR_OP_ID, *id);
                b.put_u32(CTRL_ATTR_OP_FLAGS, *flags);
                b.nest_end(n);
            }
            b.nest_end(ops);
        }
        if !self.groups.is_empty() {
            let gs = b.nest_begin(CTRL_ATTR_MCAST_GROUPS);
            for (i, (name, id)) in self.groups.iter().enumerate() {
                let n = b.nest_begin(i as u16 + 1);
                b.put_u32(CTRL_ATTR_MCAST_GRP_ID, *id);
                b.put_str(CTRL_ATTR_MCAST_GRP_NAME, name);
                b.nest_end(n);
            }
            b.nest_end(gs);
        }
    }
}
