//! Corosync CPG engine (being written on the corosync branch).
