CREATE TABLE `events` (
  `id` int(11) NOT NULL,
  `ts` date NOT NULL,
  `v` longtext CHARACTER SET utf8mb4 COLLATE utf8mb4_bin DEFAULT NULL CHECK (json_valid(`v`)),
  PRIMARY KEY (`id`,`ts`),
  KEY `k_v` (`id`)
) ENGINE=InnoDB DEFAULT CHARSET=latin1 COLLATE=latin1_swedish_ci
 PARTITION BY RANGE (year(`ts`))
(PARTITION `p2020` VALUES LESS THAN (2021) ENGINE = InnoDB,
 PARTITION `pmax` VALUES LESS THAN MAXVALUE ENGINE = InnoDB)